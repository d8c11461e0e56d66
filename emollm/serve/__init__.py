"""`emollm serve`: the web demo (a plain page on a small Starlette app; `pip install emollm[serve]`)."""
