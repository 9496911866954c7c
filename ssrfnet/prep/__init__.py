"""Data preparation: VoxCeleb data dirs (stage 0), MUSAN/RIR sets and packed audio (stage 1), downloads."""
