"""The two-tower family: DSSM, FaceBookDSSM, YoutubeDNN, YoutubeSBC (one file each)."""
