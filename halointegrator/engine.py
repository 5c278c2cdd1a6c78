"""The sync engine every integration shares: ``plan`` (pure) then ``apply`` (batched, dry by default).

``plan`` compares the wanted records with Halo's and returns a complete ``Plan``, guards included;
``apply`` writes it in batches, or in a dry run only logs "Would ..." for each change. The work lives in
``planning`` and ``applying``; this module is the name the integrations import. The plan's refused
reasons and notes travel in the ``Report``: the runner logs them (and the refused records) at the end.
"""

from halointegrator.applying import CHANGE, MAX_RECORD_ERRORS, apply, is_record_error
from halointegrator.planning import Policy, plan

__all__ = ["CHANGE", "MAX_RECORD_ERRORS", "Policy", "apply", "is_record_error", "plan"]
