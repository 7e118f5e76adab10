"""Deterministic miniature worlds written in official raw dataset layouts (DESIGN §4).

Shared parts: ``face_renderer`` (faces driven by action units) and ``eye_behaviour`` (gaze
recordings driven by emotion-dependent statistics). One module per dataset decides subjects,
labels and signals and writes that dataset's layout.
"""
