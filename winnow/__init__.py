"""Winnow: corpus curation on Apache Beam with a training backend.

Import paths and folders: `core/` (the foot every library stands on), `curation/`,
`pipelines/`, `training/`, `schemas/` and `recipes/` live at the top of the repository; `winnow/curation` and the
others are relative symlinks to them (`winnow/curation -> ../curation`). So
`winnow.curation.extract` is the file `winnow/curation/extract.py`, which is
`curation/extract.py`, and type checkers, IDEs and import-graph tools follow
every import with no path mapping. Wheels and sdists hold each module once, as
a real file under `winnow/`. See docs/architecture.md, "Folders and import paths".
"""

from winnow.core.version import __version__

__all__ = ["__version__"]
