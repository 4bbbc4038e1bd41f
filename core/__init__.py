"""arrears.core: the kernel. Hook markers, domain types and errors for plugins."""

from arrears.core.hookspecs import hookimpl, hookspec

__all__ = ["hookimpl", "hookspec"]
