"""`wilss data prepare`: the official archives (or their extracted folders) turned into the kit's layouts.

Every input is located and identified by its content before any work (`archives.locate`). Every prepare then
writes into a work folder next to the output (`.<name>.prepare`), skips what an earlier, interrupted run already
wrote, refuses lists of other than the official sizes (`--subset`: only empty ones), and renames the finished
folders into place together: a killed prepare leaves no half dataset behind, and rerunning it resumes.
"""
