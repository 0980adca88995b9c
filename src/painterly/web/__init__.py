"""The local web studio (``painterly serve``): the page, the jobs API, live progress, the webcam mode.

Needs the ``web`` extra (FastAPI, uvicorn, python-multipart): ``pip install 'painterly[web]'``.
"""
