"""Graph nodes: small async functions ``(state, runtime) -> partial update``."""
