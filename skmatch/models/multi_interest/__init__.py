"""The multi-interest family: MIND, ComirecDR, ComirecSA, SINE (one file each)."""
