"""Provider clients and the types they answer with.

The clients: RunComfy's model API and the Ideogram-compatible synchronous API.
"""
