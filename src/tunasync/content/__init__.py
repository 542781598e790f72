"""Content addressing: UnixFS file CIDs (profiles ipfs-car, kubo-v1, kubo), CAR v1, piece CIDs (CommP)."""
