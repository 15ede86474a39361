"""The server's documents split lines by LSP's rules, so edits land where the client put them.

pygls' TextDocument cuts its lines with `str.splitlines`, which also breaks at U+2028, U+2029,
U+0085, `\\x0b`, `\\x0c`, `\\x1c`-`\\x1e`: an incremental edit after "Welcome\\u2028home" was
applied a line too low, and the document silently diverged from the client's. LSP knows only
`\\n`, `\\r\\n` and `\\r`. Every position conversion and incremental edit of pygls goes through
`TextDocument.lines`, so overriding it is the one fix for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from pygls.workspace import TextDocument, Workspace

from caveat.server.positions import split_lines


class LspTextDocument(TextDocument):
    """A pygls TextDocument whose lines end only at `\\n`, `\\r\\n` or `\\r`."""

    @property
    def lines(self) -> Sequence[str]:
        """The lines of the document, each with its line break."""
        return tuple(split_lines(self.source))


class LspWorkspace(Workspace):
    """A pygls Workspace that holds LspTextDocuments."""

    @classmethod
    def like(cls, workspace: Workspace) -> LspWorkspace:
        """A new, empty workspace with the root, sync kind, folders and encoding of `workspace`."""
        return cls(
            workspace.root_uri,
            workspace._sync_kind,
            list(workspace.folders.values()),
            workspace.position_encoding,
        )

    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> TextDocument:
        """An LspTextDocument with the workspace's sync kind and position codec."""
        return LspTextDocument(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self.position_codec,
        )
