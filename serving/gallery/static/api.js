// TF Serving's REST API (GET status and metadata, POST predict) and the gallery server's own
// per-version files, with every failure turned into an ApiError carrying a readable message.

export class ApiError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.status = status; // HTTP status; 0 when the server could not be reached
  }
}

// A version choice: {kind: "latest"}, {kind: "version", value: 3} or {kind: "label", value: "stable"}.
export function versionPath(choice) {
  if (choice.kind === "version") return `/versions/${choice.value}`;
  if (choice.kind === "label") return `/labels/${encodeURIComponent(choice.value)}`;
  return "";
}

async function request(url, options, where) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (error) {
    throw new ApiError(`cannot reach ${where} (${error.message}): is the server running?`);
  }
  const text = await response.text();
  if (response.ok) {
    try {
      return JSON.parse(text);
    } catch {
      throw new ApiError(`${where} answered ${url} with something other than JSON`, response.status);
    }
  }
  let message = text.trim() || response.statusText;
  try {
    message = JSON.parse(text).error || message;
  } catch {
    // not JSON: keep the text
  }
  throw new ApiError(`${message} (HTTP ${response.status})`, response.status);
}

export class Api {
  constructor(root, model) {
    this.root = root.replace(/\/+$/, "");
    this.model = model;
    this.where = `the REST API at ${this.root || location.origin}`;
  }

  modelUrl(choice) {
    return `${this.root}/v1/models/${encodeURIComponent(this.model)}${versionPath(choice)}`;
  }

  // Available versions, newest first, and every version's state.
  async versions() {
    const status = await request(this.modelUrl({ kind: "latest" }), {}, this.where);
    const all = (status.model_version_status || []).map((s) => ({
      version: Number(s.version),
      state: s.state,
      error: s.status && s.status.error_message,
    }));
    return {
      available: all.filter((s) => s.state === "AVAILABLE").map((s) => s.version).sort((a, b) => b - a),
      all,
    };
  }

  // The version a choice resolves to and its signatures: {version, signatures: {name: def}}.
  async metadata(choice) {
    const answer = await request(`${this.modelUrl(choice)}/metadata`, {}, this.where);
    const defs = ((answer.metadata || {}).signature_def || {}).signature_def || {};
    return { version: Number(answer.model_spec.version), signatures: defs };
  }

  async predict(choice, signature, instances) {
    const body = JSON.stringify({ signature_name: signature, instances });
    const options = { method: "POST", headers: { "Content-Type": "application/json" }, body };
    const answer = await request(`${this.modelUrl(choice)}:predict`, options, this.where);
    return answer.predictions;
  }
}

// The gallery server's files about one version (generator.json, summary.json), or null on 404.
export async function versionFile(model, version, name) {
  const url = new URL(`gallery/api/${encodeURIComponent(model)}/versions/${version}/${name}`, location.href);
  try {
    return await request(url, {}, "the gallery server");
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

export function versionFileUrl(model, version, name) {
  return new URL(`gallery/api/${encodeURIComponent(model)}/versions/${version}/${name}`, location.href).href;
}

export async function galleryConfig() {
  try {
    return await request(new URL("gallery/config.json", location.href), {}, "the gallery server");
  } catch {
    return null; // the page opened from somewhere that is not a gallery server
  }
}
