"""`wilss data prepare`: the official archives (or their extracted folders) turned into the kit's layouts.

Every prepare writes into a work folder next to the output (`.<name>.prepare`), skips what an earlier,
interrupted run already wrote, and renames the finished folder into place: a killed prepare leaves no half
dataset behind, and rerunning it resumes.
"""
