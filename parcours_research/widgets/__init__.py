"""Workshop apps (ipywidgets 8): the journey explorer and the live rating board.

State lives in the widgets; logic lives in the package. Run them in JupyterLab, or serve
``notebooks/07_workshop.ipynb`` with Voila for a workshop room.
"""

from .board import RatingBoard
from .explorer import SOURCES, JourneyExplorer

__all__ = ["JourneyExplorer", "RatingBoard", "SOURCES"]
