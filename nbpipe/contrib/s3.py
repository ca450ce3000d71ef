"""Amazon S3 (and S3-compatible stores) with Luigi's API, over fsspec's ``s3fs``.

``S3Target`` (read and write, atomic), ``S3FlagTarget`` (a folder done when
its flag file, ``_SUCCESS`` by default, exists), ``S3Client`` (Luigi's
operations on ``s3://bucket/key`` paths: ``exists``, ``isdir``, ``listdir``,
``list``, ``mkdir``, ``remove``, ``copy``, ``move``, ``put``, ``put_string``,
``put_multipart``, ``get``, ``get_as_bytes``, ``get_as_string``, ``get_key``)
and the external tasks ``S3PathTask`` and ``S3FlagTask``.

Credentials and endpoint, in order: the client's keyword arguments
(``aws_access_key_id``, ``aws_secret_access_key``, ``aws_session_token``,
``endpoint_url``, ``region_name``, and any other ``s3fs.S3FileSystem``
option), then the ``[s3]`` configuration section (same names), then what
boto finds by itself (environment, ``~/.aws``, instance roles).  They travel
with a pickled target to worker processes; prefer the environment for secrets.

Writes go through :class:`nbpipe.targets.fsspec_target.FsspecTarget`: an
object appears whole when the stream closes cleanly and not at all when the
``with`` block raises.  ``S3Target(path, **kwargs)`` passes ``kwargs`` (e.g.
``ContentType``, ``ServerSideEncryption``) to the upload, as Luigi does.

Differences from Luigi, whose client is built on boto3 resources:
``S3Client.get_key`` and ``listdir(..., return_key=True)`` give s3fs's info
dicts (``name``, ``size``, ``LastModified``, ``ETag``...), not boto3
``ObjectSummary`` objects; the boto3 resource (``S3Client.s3``) is replaced
by the ``s3fs.S3FileSystem`` (:attr:`S3Client.s3fs`); ``copy`` is done by
the store (server-side) one object at a time.  ``s3fs`` is imported on first
use; without it a :class:`~nbpipe.contrib.MissingDependencyError` says
``pip install 'nbpipe[s3]'``.
"""

from __future__ import annotations

import datetime
import os
import warnings
from contextlib import AbstractContextManager
from typing import Any, Optional
from urllib.parse import urlsplit

from nbpipe import configuration
from nbpipe import format as _format
from nbpipe.contrib import require
from nbpipe.exceptions import FileAlreadyExists, FileSystemException, MissingParentDirectory
from nbpipe.parameter import OptionalParameter, Parameter
from nbpipe.target import FileSystem, FileSystemTarget
from nbpipe.task import ExternalTask

__all__ = [
    "DeprecatedBotoClientException",
    "FileNotFoundException",
    "InvalidDeleteException",
    "S3Client",
    "S3EmrTarget",
    "S3EmrTask",
    "S3FlagTarget",
    "S3FlagTask",
    "S3PathTask",
    "S3Target",
]

#: The two ways a "folder" is marked in S3: a ``key_$folder$`` object or a ``key/`` object.
S3_DIRECTORY_MARKER_SUFFIX_0 = "_$folder$"
S3_DIRECTORY_MARKER_SUFFIX_1 = "/"
DEFAULT_PART_SIZE = 8 * 2**20

# Luigi's boto-style names -> where s3fs takes them.
_CREDENTIALS = {"aws_access_key_id": "key", "aws_secret_access_key": "secret", "aws_session_token": "token"}
_CLIENT_KWARGS = ("region_name", "verify", "config")


class InvalidDeleteException(FileSystemException):
    """Deleting the root of a bucket, or a folder without ``recursive``."""


class FileNotFoundException(FileSystemException, FileNotFoundError):
    """Reading an object that does not exist."""


class DeprecatedBotoClientException(Exception):
    """An option of the old boto client (``encrypt_key``, ``host``) that has no meaning here."""


def _s3fs() -> Any:
    return require("s3fs", "s3", "nbpipe.contrib.s3")


def _storage_options(options: dict[str, Any]) -> dict[str, Any]:
    """Luigi/boto-style client options as ``s3fs.S3FileSystem`` keyword arguments."""
    out: dict[str, Any] = {}
    client_kwargs: dict[str, Any] = dict(options.pop("client_kwargs", None) or {})
    for name, value in options.items():
        if value is None:
            continue
        if name in _CREDENTIALS:
            out[_CREDENTIALS[name]] = value
        elif name in _CLIENT_KWARGS:
            client_kwargs[name] = value
        else:
            out[name] = value
    if client_kwargs:
        out["client_kwargs"] = client_kwargs
    return out


class S3Client(FileSystem):
    """Luigi's S3 file system operations on ``s3://bucket/key`` paths (see the module docstring)."""

    def __init__(
        self,
        aws_access_key_id: Optional[str] = None,
        aws_secret_access_key: Optional[str] = None,
        aws_session_token: Optional[str] = None,
        **kwargs: Any,
    ):
        options = {k: v for k, v in self._get_s3_config().items() if k not in _CREDENTIALS or v}
        given = {
            "aws_access_key_id": aws_access_key_id,
            "aws_secret_access_key": aws_secret_access_key,
            "aws_session_token": aws_session_token,
        }
        options.update({k: v for k, v in given.items() if v is not None})
        options.update(kwargs)
        #: the ``s3fs.S3FileSystem`` keyword arguments this client uses (and targets made with it)
        self.storage_options = _storage_options(options)
        self._fs: Any = None
        self._fs_pid = -1

    @staticmethod
    def _get_s3_config(key: Optional[str] = None) -> Any:
        """The ``[s3]`` configuration section (numbers converted, credentials kept as text), or one value."""
        config: dict[str, Any] = {}
        for name, value in configuration.get_config().section("s3").items():
            try:
                config[name] = value if name in _CREDENTIALS else int(value)
            except (TypeError, ValueError):
                config[name] = value
        return config.get(key) if key else config

    @property
    def s3fs(self) -> Any:
        """The ``s3fs.S3FileSystem`` (fsspec shares one per process and set of options; listings
        are never cached: other workers write to the same bucket)."""
        if self._fs is None or self._fs_pid != os.getpid():
            self._fs = _s3fs().S3FileSystem(use_listings_cache=False, **self.storage_options)
            self._fs_pid = os.getpid()
        return self._fs

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fs": None}

    # -- paths -------------------------------------------------------------------

    @staticmethod
    def _path_to_bucket_and_key(path: str) -> tuple[str, str]:
        _scheme, netloc, key, query, _fragment = urlsplit(path, allow_fragments=False)
        return netloc, key[1:] + ("?" + query if query else "")

    @staticmethod
    def _is_root(key: str) -> bool:
        return key in ("", "/")

    @staticmethod
    def _add_path_delimiter(key: str) -> str:
        return key if key == "" or key.endswith("/") else key + "/"

    @staticmethod
    def _check_deprecated_argument(**kwargs: Any) -> None:
        if "encrypt_key" in kwargs:
            raise DeprecatedBotoClientException("encrypt_key is a boto 2 option; pass ServerSideEncryption instead")
        if "host" in kwargs:
            raise DeprecatedBotoClientException("host is a boto 2 option; pass endpoint_url or region_name instead")

    def _fs_path(self, path: str) -> str:
        bucket, key = self._path_to_bucket_and_key(path)
        return f"{bucket}/{key}" if key else bucket

    def _is_file(self, bucket: str, key: str) -> bool:
        if self._is_root(key):
            return False
        try:
            return self.s3fs.info(f"{bucket}/{key}").get("type") == "file"
        except FileNotFoundError:
            return False

    # -- queries -----------------------------------------------------------------

    def exists(self, path: str) -> bool:
        """True for the root of a bucket, an object, or a folder (a marker or objects under it)."""
        bucket, key = self._path_to_bucket_and_key(path)
        return self._is_root(key) or self._is_file(bucket, key) or self.isdir(path)

    def isdir(self, path: str) -> bool:
        bucket, key = self._path_to_bucket_and_key(path)
        if self._is_root(key):
            return True
        bare = key.rstrip("/")
        if self._is_file(bucket, bare + S3_DIRECTORY_MARKER_SUFFIX_0):
            return True
        folder = f"{bucket}/{bare}/"
        try:  # a "key/" marker object, or anything under "key/" (ls of a file lists the file itself)
            return any(name.startswith(folder) for name in self.s3fs.ls(folder, detail=False))
        except FileNotFoundError:
            return False

    is_dir = isdir

    def get_key(self, path: str) -> Optional[dict[str, Any]]:
        """s3fs's info dict of the object at ``path`` (``size``, ``LastModified``, ``ETag``...), or None."""
        bucket, key = self._path_to_bucket_and_key(path)
        if not self._is_file(bucket, key):
            return None
        return self.s3fs.info(f"{bucket}/{key}")

    def listdir(self, path: str, start_time=None, end_time=None, return_key: bool = False):
        """Every object under the folder ``path`` (recursively), as ``s3://`` paths, or info dicts
        with ``return_key``; ``start_time`` / ``end_time`` (timezone-aware) keep objects modified
        strictly between them (naive times are UTC)."""
        bucket, key = self._path_to_bucket_and_key(path)
        prefix = self._add_path_delimiter(key)
        start = _utc(start_time) if start_time is not None else None
        end = _utc(end_time) if end_time is not None else None
        found = self.s3fs.find(f"{bucket}/{prefix}", detail=True)
        for name in sorted(found):
            info = found[name]
            relative = name[len(bucket) + 1 :][len(prefix) :]
            if not name[len(bucket) + 1 :].startswith(prefix) or not relative:
                continue
            modified = info.get("LastModified")
            if start is not None and not (modified and start < modified):
                continue
            if end is not None and not (modified and modified < end):
                continue
            yield info if return_key else self._add_path_delimiter(path) + relative

    def list(self, path: str, start_time=None, end_time=None, return_key: bool = False):
        """As :meth:`listdir`, with paths relative to ``path``."""
        skip = len(self._add_path_delimiter(path))
        for item in self.listdir(path, start_time=start_time, end_time=end_time, return_key=return_key):
            yield item if return_key else item[skip:]

    # -- reading -----------------------------------------------------------------

    def get(self, s3_path: str, destination_local_path: str) -> None:
        self.s3fs.get_file(self._fs_path(s3_path), destination_local_path)

    def get_as_bytes(self, s3_path: str) -> bytes:
        return self.s3fs.cat_file(self._fs_path(s3_path))

    def get_as_string(self, s3_path: str, encoding: str = "utf-8") -> str:
        return self.get_as_bytes(s3_path).decode(encoding)

    # -- writing -----------------------------------------------------------------

    def put(self, local_path: str, destination_s3_path: str, **kwargs: Any) -> None:
        """Upload a local file; ``kwargs`` go to the upload (``ContentType``...)."""
        self._check_deprecated_argument(**kwargs)
        self.put_multipart(local_path, destination_s3_path, **kwargs)

    def put_string(self, content: str | bytes, destination_s3_path: str, **kwargs: Any) -> None:
        self._check_deprecated_argument(**kwargs)
        data = content.encode("utf-8") if isinstance(content, str) else content
        self.s3fs.pipe_file(self._fs_path(destination_s3_path), data, **kwargs)

    def put_multipart(
        self, local_path: str, destination_s3_path: str, part_size: int = DEFAULT_PART_SIZE, **kwargs: Any
    ) -> None:
        """Upload a local file, in parts of ``part_size`` bytes when it is larger than one part."""
        self._check_deprecated_argument(**kwargs)
        self.s3fs.put_file(local_path, self._fs_path(destination_s3_path), chunksize=part_size, **kwargs)

    def mkdir(self, path: str, parents: bool = True, raise_if_exists: bool = False) -> None:
        """Mark a folder with a ``key/`` object (S3 has no folders)."""
        if raise_if_exists and self.isdir(path):
            raise FileAlreadyExists(path)
        _bucket, key = self._path_to_bucket_and_key(path)
        if self._is_root(key):
            return
        folder = self._add_path_delimiter(path)
        if not parents and not self.isdir(os.path.dirname(folder.rstrip("/"))):
            raise MissingParentDirectory(path)
        self.put_string("", folder)

    def remove(self, path: str, recursive: bool = True) -> bool:  # type: ignore[override]  # Luigi's S3 API
        """Delete an object, or a folder and everything under it; False when nothing was there."""
        if not self.exists(path):
            return False
        bucket, key = self._path_to_bucket_and_key(path)
        if self._is_root(key):
            raise InvalidDeleteException(f"Cannot delete root of bucket at path {path}")
        if self._is_file(bucket, key):
            self.s3fs.rm_file(f"{bucket}/{key}")
            return True
        if not recursive:
            raise InvalidDeleteException(f"Path {path} is a directory. Must use recursive delete")
        bare = key.rstrip("/")
        names = [f"{bucket}/{bare}/{rel}" for rel in self.list(path)]
        for marker in (bare + S3_DIRECTORY_MARKER_SUFFIX_0, bare + S3_DIRECTORY_MARKER_SUFFIX_1):
            if self._is_file(bucket, marker):
                names.append(f"{bucket}/{marker}")
        if names:
            self.s3fs.rm(names)
        return bool(names)

    def copy(
        self,
        source_path: str,
        destination_path: str,
        threads: int = 100,
        start_time=None,
        end_time=None,
        part_size: int = DEFAULT_PART_SIZE,
        **kwargs: Any,
    ) -> tuple[int, int]:
        """Copy an object, or every object of a folder (optionally only those modified between
        ``start_time`` and ``end_time``), server-side.  Returns (objects copied, bytes copied)."""
        if self.isdir(source_path):
            src_prefix = self._add_path_delimiter(source_path)
            dst_prefix = self._add_path_delimiter(destination_path)
            count = size = 0
            for info in self.listdir(source_path, start_time=start_time, end_time=end_time, return_key=True):
                relative = info["name"][len(self._fs_path(src_prefix)) :]
                self.s3fs.copy(info["name"], self._fs_path(dst_prefix + relative), **kwargs)
                count, size = count + 1, size + int(info.get("size") or 0)
            return count, size
        info = self.get_key(source_path)
        if info is None:
            raise FileNotFoundException(f"Could not find file at {source_path}")
        self.s3fs.copy(self._fs_path(source_path), self._fs_path(destination_path), **kwargs)
        return 1, int(info.get("size") or 0)

    def move(self, source_path: str, destination_path: str, **kwargs: Any) -> None:
        """Copy, then remove the source."""
        self.copy(source_path, destination_path, **kwargs)
        self.remove(source_path)

    def rename_dont_move(self, path: str, dest: str) -> None:
        """Move ``path`` to ``dest``; FileAlreadyExists when ``dest`` exists (Luigi's contract)."""
        if self.exists(dest):
            raise FileAlreadyExists(dest)
        self.move(path, dest)


class S3Target(FileSystemTarget):
    """An object at ``s3://bucket/key``; ``fs`` is its :class:`S3Client`.

    ``open("r")`` / ``open("w")`` (``"rb"`` / ``"wb"`` for bytes) with ``format``
    as for LocalTarget; ``kwargs`` go to the upload.  Reading a missing object
    raises :class:`FileNotFoundException`.
    """

    def __init__(
        self, path: str, format: Optional[_format.Format] = None, client: Optional[S3Client] = None, **kwargs: Any
    ):
        super().__init__(path)
        self.fs: S3Client = client or S3Client()
        self.format = format if format is not None else _format.get_default_format()
        self._given_format = format
        self.s3_options = kwargs
        self._object: Any = None

    @property
    def _fsspec(self) -> Any:
        """The :class:`FsspecTarget` doing this target's reads and writes."""
        if self._object is None:
            from nbpipe.targets.fsspec_target import FsspecTarget

            _s3fs()  # the clear error when s3fs is missing
            options = dict(self.fs.storage_options)
            if self.s3_options:
                options["s3_additional_kwargs"] = {**options.get("s3_additional_kwargs", {}), **self.s3_options}
            options["use_listings_cache"] = False
            self._object = FsspecTarget(self.path, format=self._given_format, **options)
        return self._object

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_object": None}

    def open(self, mode: str = "r"):
        if mode not in ("r", "w", "rb", "wb"):
            raise ValueError(f"Unsupported open mode {mode!r}")
        try:
            return self._fsspec.open(mode)
        except FileNotFoundError as err:
            raise FileNotFoundException(f"Could not find file at {self.path}") from err

    def temporary_path(self) -> AbstractContextManager[str]:  # type: ignore[override]
        """A local path to write; uploaded here when the block succeeds (nothing when it raises)."""
        return self._fsspec.temporary_path()

    def fingerprint(self) -> Optional[str]:
        """The object's ETag (``"etag=..."``), or a folder's tree digest; None when absent."""
        return self._fsspec.fingerprint()


class S3FlagTarget(S3Target):
    """A folder (``path`` ends with ``/``) that is done when ``path + flag`` exists.

    For jobs that write many objects: they write the flag last.
    """

    def __init__(
        self,
        path: str,
        format: Optional[_format.Format] = None,
        client: Optional[S3Client] = None,
        flag: Optional[str] = "_SUCCESS",
    ):
        if not path.endswith("/"):
            raise ValueError("S3FlagTarget requires the path to be to a directory.  It must end with a slash ( / ).")
        super().__init__(path, format, client)
        self.flag = flag if flag is not None else "_SUCCESS"

    def exists(self) -> bool:
        return self.fs.exists(self.path + self.flag)

    def fingerprint(self) -> Optional[str]:
        return S3Target(self.path + self.flag, client=self.fs).fingerprint() if self.exists() else None


class S3EmrTarget(S3FlagTarget):
    """Deprecated: use :class:`S3FlagTarget`."""

    def __init__(self, *args: Any, **kwargs: Any):
        warnings.warn("S3EmrTarget is deprecated. Please use S3FlagTarget", DeprecationWarning, stacklevel=2)
        super().__init__(*args, **kwargs)


class S3PathTask(ExternalTask):
    """An input that must exist at ``path`` in S3."""

    path = Parameter()

    def output(self) -> S3Target:
        return S3Target(str(self.path))


class S3EmrTask(ExternalTask):
    """Deprecated: use :class:`S3FlagTask`."""

    path = Parameter()

    def output(self) -> S3EmrTarget:
        return S3EmrTarget(str(self.path))


class S3FlagTask(ExternalTask):
    """An input folder that must have its flag file (``_SUCCESS`` unless ``flag`` says otherwise)."""

    path = Parameter()
    flag = OptionalParameter(default=None)

    def output(self) -> S3FlagTarget:
        flag = self.flag
        return S3FlagTarget(str(self.path), flag=None if flag is None else str(flag))


def _utc(moment: datetime.datetime) -> datetime.datetime:
    """``moment`` as an aware UTC time (naive times are taken as UTC), to compare with LastModified."""
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)
