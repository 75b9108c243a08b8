"""polyedit: multilingual knowledge editing of large language models.

Edit a fact once, in one language, and measure whether the change holds in every language the model
speaks (reliability, generality, portability) without disturbing unrelated knowledge (locality).
"""

from polyedit.api import EditResult, bench, edit, evaluate
from polyedit.data.cases import Edit, EditCase, Probe, make_case
from polyedit.data.registry import load_dataset
from polyedit.errors import PolyeditError
from polyedit.evaluation.spec import RunSpec
from polyedit.methods.base import get_method, method_names
from polyedit.models.load import load_model
# The knowledge world sits above data/ and registers its `world` dataset from here, the package's root:
# importing any polyedit module runs this first, and data/ never reaches up for it.
import polyedit.world.dataset  # noqa: E402,F401,I001
import polyedit.world.lifelong_dataset  # noqa: E402,F401,I001

__all__ = ["Edit", "EditCase", "EditResult", "PolyeditError", "Probe", "RunSpec", "bench", "edit", "evaluate",
           "get_method", "load_dataset", "load_model", "make_case", "method_names"]
__version__ = "0.1.0"
