"""provision: declarative, verified LLM-provider setup for Coder AI Bridge and Mux."""

from provision.errors import Diagnostic, DiagnosticsError, ProvisionError, Severity, Span
from provision.secrets import Secret

__all__ = [
    "Diagnostic",
    "DiagnosticsError",
    "ProvisionError",
    "Secret",
    "Severity",
    "Span",
    "__version__",
]

__version__ = "0.1.0"
