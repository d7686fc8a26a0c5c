"""The sequential family: GRU4Rec, NARM, SASRec, STAMP (one file each)."""
