"""TF Serving's API, embedded: the gRPC server over the contract (artgan.contract) and its client.

Knows the signature contract, not how models are trained.
"""
