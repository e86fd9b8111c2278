"""The pure core: events, canonical encoding, chain, Merkle tree, checkpoints. No I/O."""
