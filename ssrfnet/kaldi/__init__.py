"""Kaldi data-directory files: tables, trials, validation. No torch needed."""
