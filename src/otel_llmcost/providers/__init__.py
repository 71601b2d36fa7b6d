"""Provider adapters: each turns one SDK's requests, results and streams into the normalized call record."""
