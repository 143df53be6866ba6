"""The one exception type for errors a user can cause (bad input, bad config, bad request)."""


class ArtganError(Exception):
    """A problem the user can fix; the message names the file, field or value and what to do."""
