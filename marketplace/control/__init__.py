"""Certification control at three levels: herder self-evaluation, internal control, external control."""
