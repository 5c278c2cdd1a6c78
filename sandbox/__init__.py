"""Local stand-ins for Halo, Microsoft Graph and the directories: the demo's and the tests' servers.

Never imported by the application and never frozen into the executable. The Halo API emulator is
sandbox.halo_server.HaloSandbox.
"""
