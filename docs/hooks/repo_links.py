"""MkDocs hook: links from the docs to repository files outside docs/ work in the built site too.

The pages link to examples, configs and the README with relative paths (``../examples/vae.py``)
so they read well on a Git host. MkDocs only knows the files under docs/, and in strict mode such
a link fails the build. This hook copies every linked repository file into the site under
``repo/`` (a linked folder becomes a page listing its files; a linked Markdown file becomes a page
whose own links are resolved the same way) and points the links there. A link whose target does
not exist is left as it is, so MkDocs still reports it and ``mkdocs build --strict`` fails.
"""
import posixpath
import re
from pathlib import Path
from urllib.parse import urlsplit

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, InclusionLevel

#: where the copied repository files live in the site
SITE_FOLDER = "repo"
#: a Markdown file larger than this is refused rather than read to look for links
MAX_MARKDOWN_BYTES = 2_000_000
#: an inline Markdown link or image: ``[text](target "title")``; group 1 is the target
_LINK = re.compile(r"(\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _repo_root(config):
    return Path(config.config_file_path).resolve().parent


def _read_markdown(path):
    size = path.stat().st_size
    if size > MAX_MARKDOWN_BYTES:
        raise PluginError(f"{path}: {size} bytes, more than the {MAX_MARKDOWN_BYTES} a linked Markdown file may have")
    return path.read_text(encoding="utf-8")


def _outside_code(markdown):
    """The lines of ``markdown`` with a flag: True for lines outside fenced code blocks."""
    inside = False
    for line in markdown.splitlines(keepends=True):
        if _FENCE.match(line):
            inside = not inside
            yield line, False
        else:
            yield line, not inside


def _relative_target(target):
    """(path, anchor) of a relative link target, or None for URLs, absolute paths and bare anchors."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
        return None
    return parts.path, (f"#{parts.fragment}" if parts.fragment else "")


def _repo_file(source, path, docs_dir, root):
    """The existing file or folder outside docs/ (inside the repository) that ``path`` in ``source`` names."""
    target = (source.parent / path).resolve()
    if not target.exists() or target == root or root not in target.parents:
        return None
    if target == docs_dir or docs_dir in target.parents:
        return None
    return target


def _linked_repo_files(source, docs_dir, root):
    for line, outside in _outside_code(_read_markdown(source)):
        if not outside:
            continue
        for match in _LINK.finditer(line):
            relative = _relative_target(match.group(2))
            target = relative and _repo_file(source, relative[0], docs_dir, root)
            if target:
                yield target


def _listing_page(folder, root):
    """Markdown of a page listing the files of ``folder`` (each copied into the site beside it)."""
    name = folder.relative_to(root).as_posix()
    entries = [f"- [{p.name}]({p.name})" for p in _listed_files(folder)]
    return f"# {name}/\n\nThe files of the repository's `{name}/` folder:\n\n" + "\n".join(entries) + "\n"


def _listed_files(folder):
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def on_files(files, config):
    """Add the repository files the docs link to (and those linked from linked Markdown files)."""
    docs_dir, root = Path(config.docs_dir).resolve(), _repo_root(config)
    queue = [Path(f.abs_src_path) for f in files.documentation_pages() if f.abs_src_path]
    added = set()

    def add(path, **source):
        """Add ``path`` (relative to the repository) to the site once; True when it was new."""
        uri = f"{SITE_FOLDER}/{path.relative_to(root).as_posix()}"
        if uri in added or files.get_file_from_path(uri) is not None:
            return False
        added.add(uri)
        files.append(File.generated(config, uri, inclusion=InclusionLevel.NOT_IN_NAV, **source))
        return True

    while queue:
        for target in _linked_repo_files(queue.pop(), docs_dir, root):
            if target.is_dir():
                if add(target / "index.md", content=_listing_page(target, root)):
                    for path in _listed_files(target):
                        add(path, abs_src_path=str(path))
            elif add(target, abs_src_path=str(target)) and target.suffix == ".md":
                queue.append(target)  # its own links are followed too
    return files


def on_page_markdown(markdown, page, config, files):
    """Point links that leave docs/ (or, in a copied page, that enter it) at the site's files."""
    if not page.file.abs_src_path:
        return markdown  # a generated listing page: its links are site paths already
    docs_dir, root = Path(config.docs_dir).resolve(), _repo_root(config)
    source = Path(page.file.abs_src_path).resolve()
    in_docs = docs_dir in source.parents
    page_folder = posixpath.dirname(page.file.src_uri)

    def site_link(match):
        relative = _relative_target(match.group(2))
        if relative is None:
            return match.group(0)
        target = (source.parent / relative[0]).resolve()
        if docs_dir in target.parents or target == docs_dir:
            if in_docs or not target.exists():
                return match.group(0)
            uri = target.relative_to(docs_dir).as_posix()
        else:
            target = _repo_file(source, relative[0], docs_dir, root)
            if target is None:
                return match.group(0)  # missing: MkDocs reports it
            uri = f"{SITE_FOLDER}/{target.relative_to(root).as_posix()}" + ("/index.md" if target.is_dir() else "")
        return match.group(1) + posixpath.relpath(uri, page_folder or ".") + relative[1] + match.group(3)

    return "".join(_LINK.sub(site_link, line) if outside else line for line, outside in _outside_code(markdown))
