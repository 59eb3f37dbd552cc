"""The functions Ray runs (or the inline runner calls): one trial from config to records."""
