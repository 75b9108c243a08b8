"""IKE: in-context knowledge editing with BMIKE-53's prompts and demonstration settings."""

from polyedit.methods.ike.method import IKE, IKEHandle, IKEHParams

__all__ = ["IKE", "IKEHParams", "IKEHandle"]
