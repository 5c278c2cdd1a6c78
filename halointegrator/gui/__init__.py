"""The window: a thin tkinter layer over one worker thread. Only this package imports tkinter.

``app.main()`` opens it (cli.py calls it when no command is given). Every network call runs on the
worker (``worker.Worker``); the tabs only collect settings, hand functions to the worker and show what
comes back through its queue, so the window never freezes and Tk is only ever touched from its own thread.
"""
