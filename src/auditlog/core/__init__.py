"""The pure core, for the auditor: events, canonical encoding, chain, Merkle tree and proofs,
signed notes, checkpoints, evidence. No I/O."""
