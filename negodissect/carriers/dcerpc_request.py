"""DCE/RPC REQUEST PDUs (C706 12.6.4.9) of the operations that make a server authenticate to a
host the caller names: authentication coercion.

Each operation of :data:`COERCIONS` takes a path or a server name and makes the server open it,
that is authenticate to its host with the machine account: [MS-EFSR] EfsRpcOpenFileRaw and its
kin ("PetitPotam"), [MS-RPRN] RpcRemoteFindFirstPrinterChangeNotification(Ex) (the notification
client it calls back, "PrinterBug"), [MS-DFSNM] NetrDfsAddStdRoot / NetrDfsRemoveStdRoot
("DFSCoerce") and [MS-FSRVP] IsPathSupported / IsPathShadowCopied ("ShadowCoerce").

The DCE/RPC flow remembers which presentation contexts a BIND or ALTER_CONTEXT bound to one of
those interfaces (:func:`coercion_contexts`); only then are REQUEST PDUs collected at all, and
only those of a listed operation become messages (:func:`parse`), with the operation's name and,
when the stub is not sealed, its first string argument (the first NDR conformant varying string,
[C706] 14.3.4.2, within :data:`MAX_STUB_SCAN` bytes) and the host it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from negodissect.field import Field
from negodissect.layout import ByteOrder, Layout

if TYPE_CHECKING:
    from negodissect.carriers.dcerpc import DcerpcFacts

#: C706 12.6.4.9 request PDU body after the common header; PFC_OBJECT_UUID adds an object UUID.
REQUEST_HEAD = Layout(("alloc_hint", 4), ("p_cont_id", 2), ("opnum", 2))
REQUEST_HEAD_END = 24
PFC_FIRST_FRAG = 0x01
PFC_OBJECT_UUID = 0x80
OBJECT_SIZE = 16
#: [MS-RPCE] 2.2.1.1.8: a PKT_PRIVACY stub is sealed (no argument can be read).
RPC_C_AUTHN_LEVEL_PKT_PRIVACY = 6
SEC_TRAILER_SIZE = 8
#: Stub bytes searched for the first conformant varying string, and characters kept of it.
MAX_STUB_SCAN = 512
MAX_PATH_CHARS = 512
#: Presentation contexts of coercion interfaces remembered per association (C706: a BIND may
#: name up to 255); past it the oldest is forgotten.
MAX_COERCION_CONTEXTS = 16
#: A UNC path's host (``\\host\share``), or a bare server name (NetrDfsAddStdRoot's ServerName).
_UNC_HOST = re.compile(r"^\\\\([^\\/]+)")
_SERVER_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True, slots=True)
class Coercion:
    """An interface whose operations coerce: the specification, the public name of the
    technique, and the operations (opnum -> name) that take the path or server to call."""

    protocol: str
    technique: str
    operations: dict[int, str]


#: [MS-EFSR] 3.1.4.2: every method taking a FileName (a UNC path the server opens) on either
#: EFSRPC interface (\pipe\efsrpc, and \pipe\lsarpc and its aliases, [MS-EFSR] 1.9).
_EFSR = Coercion(
    "MS-EFSR",
    "PetitPotam",
    {
        0: "EfsRpcOpenFileRaw",
        4: "EfsRpcEncryptFileSrv",
        5: "EfsRpcDecryptFileSrv",
        6: "EfsRpcQueryUsersOnFile",
        7: "EfsRpcQueryRecoveryAgents",
        8: "EfsRpcRemoveUsersFromFile",
        9: "EfsRpcAddUsersToFile",
        12: "EfsRpcFileKeyInfo",
        13: "EfsRpcDuplicateEncryptionInfoFile",
        15: "EfsRpcAddUsersToFileEx",
        16: "EfsRpcFileKeyInfoEx",
        18: "EfsRpcGetEncryptedFileMetadata",
        19: "EfsRpcSetEncryptedFileMetadata",
        21: "EfsRpcEncryptFileExSrv",
    },
)
#: The coercion interfaces by abstract syntax UUID (the names of dcerpc.INTERFACES).
COERCIONS: dict[str, Coercion] = {
    "c681d488-d850-11d0-8c52-00c04fd90f7e": _EFSR,
    "df1941c5-fe89-4e79-bf10-463657acf44d": _EFSR,
    # [MS-RPRN] 3.1.4.10.3 / 3.1.4.10.4: pszLocalMachine, the client to notify
    "12345678-1234-abcd-ef00-0123456789ab": Coercion(
        "MS-RPRN",
        "PrinterBug",
        {
            62: "RpcRemoteFindFirstPrinterChangeNotification",
            65: "RpcRemoteFindFirstPrinterChangeNotificationEx",
        },
    ),
    # [MS-DFSNM] 3.1.4.4.1 / 3.1.4.4.2: ServerName
    "4fc742e0-4a10-11cf-8273-00aa004ae673": Coercion(
        "MS-DFSNM", "DFSCoerce", {12: "NetrDfsAddStdRoot", 13: "NetrDfsRemoveStdRoot"}
    ),
    # [MS-FSRVP] 3.1.4.8 / 3.1.4.9: ShareName, a UNC share path
    "a8e0653c-2744-4389-a61d-7373df8b2292": Coercion(
        "MS-FSRVP", "ShadowCoerce", {8: "IsPathSupported", 9: "IsPathShadowCopied"}
    ),
}


def coercion_contexts(tree: Field, contexts: dict[int, str]) -> None:
    """Note in ``contexts`` (p_cont_id -> interface UUID) the presentation contexts of a BIND or
    ALTER_CONTEXT (its tree, C706 12.6.3.1 p_cont_elem_t) bound to a coercion interface; a
    context bound again to another interface is forgotten."""
    elements = next((child for child in tree.children if child.name == "p_context_elem"), None)
    for element in elements.children if elements is not None else ():
        if not element.children or element.children[0].name != "p_cont_id":
            continue
        context = element.children[0].int_value
        syntax = element.find("if_uuid")
        contexts.pop(context, None)
        if syntax is not None and syntax.summary in COERCIONS:
            if len(contexts) >= MAX_COERCION_CONTEXTS:
                del contexts[next(iter(contexts))]
            contexts[context] = syntax.summary


def unc_host(path: str) -> str | None:
    """The host a path or server-name argument names: ``\\\\host\\share`` -> ``host``; a bare
    server name as it is."""
    match = _UNC_HOST.match(path)
    if match is not None:
        return match.group(1)
    return path if _SERVER_NAME.match(path) else None


def _string(stub: bytes, base: int, order: ByteOrder) -> tuple[str, int, int] | None:
    """The first conformant varying string (C706 14.3.4.2: max_count, offset 0, actual_count,
    UTF-16 code units ending with a NUL) in the first :data:`MAX_STUB_SCAN` bytes, 4-aligned:
    (text, offset in the PDU, length in bytes), or None."""
    limit = min(len(stub), MAX_STUB_SCAN)
    for at in range(0, limit - 12, 4):
        maximum = int.from_bytes(stub[at : at + 4], order)
        offset = int.from_bytes(stub[at + 4 : at + 8], order)
        actual = int.from_bytes(stub[at + 8 : at + 12], order)
        end = at + 12 + 2 * actual
        if offset or not 1 < actual <= maximum or maximum > MAX_PATH_CHARS or end > len(stub):
            continue
        raw = stub[at + 12 : end]
        if raw[-2:] != b"\0\0":
            continue
        text = raw[:-2].decode("utf-16-le" if order == "little" else "utf-16-be", "replace")
        return text, base + at, end - at
    return None


def parse(
    pdu: bytes, order: ByteOrder, contexts: dict[int, str], root: Field, facts: DcerpcFacts
) -> bool:
    """A REQUEST PDU (its common header already in ``root`` and ``facts``): whether it calls a
    coercion operation on a context bound to a coercion interface; if so its fields (request
    header, the operation, the path argument) are added to ``root`` and ``facts``."""
    if len(pdu) < REQUEST_HEAD_END or not pdu[3] & PFC_FIRST_FRAG:
        return False
    context = int.from_bytes(pdu[20:22], order)
    opnum = int.from_bytes(pdu[22:24], order)
    interface = contexts.get(context)
    coercion = COERCIONS.get(interface or "")
    if interface is None or coercion is None or opnum not in coercion.operations:
        return False
    operation = coercion.operations[opnum]
    fields = REQUEST_HEAD.read(root, pdu, 16, order=order)
    fields["opnum"].summary = f"{operation} ({opnum}), [{coercion.protocol}] {coercion.technique}"
    facts.context_id, facts.interface_uuid = context, interface
    facts.opnum, facts.operation, facts.technique = opnum, operation, coercion.technique
    start = REQUEST_HEAD_END + (OBJECT_SIZE if pdu[3] & PFC_OBJECT_UUID else 0)
    end = len(pdu)
    if facts.auth_length:
        end -= facts.auth_length + SEC_TRAILER_SIZE
        if end >= start and pdu[end + 1] == RPC_C_AUTHN_LEVEL_PKT_PRIVACY:
            root.add("stub", None, "sealed (PKT_PRIVACY): the arguments cannot be read", start,
                     end - start)  # fmt: skip
            return True
    if end <= start:
        return True
    stub = root.add("stub", None, f"{end - start} bytes", start, end - start)
    found = _string(pdu[start:end], start, order)
    if found is not None:
        text, at, length = found
        facts.target_path, facts.target_host = text, unc_host(text)
        stub.add("string", text, "", at, length)
        stub.summary = f"first string argument: {text}"
    return True
