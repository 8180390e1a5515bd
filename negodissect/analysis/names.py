"""The names of the tree nodes analysis reads, as the decoders spell them (the specifications'
names: RFC 4178, [MS-NLMP], RFC 4120, [MS-NEGOEX]).

Analysis finds what a token says by node name; naming each here once keeps a decoder's rename
to one edit, and ``tests/analysis/test_names.py`` checks that real decoded trees hold every one.
"""

from __future__ import annotations

# SPNEGO (RFC 4178 4.2, [MS-SPNG] 2.2.1)
NEG_TOKEN_INIT = "NegTokenInit"
NEG_TOKEN_INIT2 = "NegTokenInit2"
NEG_TOKEN_RESP = "NegTokenResp"
MECH_TYPES = "MechTypes"
NEG_STATE = "NegState"
SUPPORTED_MECH = "SupportedMech"
MECH_LIST_MIC = "MechListMIC"

# NTLM ([MS-NLMP] 2.2.1, 2.2.2)
NTLMSSP = "NTLMSSP"  # the root of an NTLM message
MESSAGE_TYPE = "MessageType"  # NTLM and NEGOEX messages
NTLM_VERSION = "NTLMVersion"  # what the AUTHENTICATE's responses are (gss.ntlm.classify)
DOMAIN_NAME = "DomainName"
USER_NAME = "UserName"
WORKSTATION = "Workstation"
LM_CHALLENGE_RESPONSE = "LmChallengeResponse"
NT_CHALLENGE_RESPONSE = "NtChallengeResponse"
RESPONSE = "Response"  # an NTLMv1 response inside NtChallengeResponse (the verdict's field)
CHECKSUM_VALUE = "ChecksumValue"  # a NEGOEX VERIFY's checksum (the verdict's field)
SERVER_CHALLENGE = "ServerChallenge"
TARGET_INFO = "TargetInfo"
MSV_AV_TIMESTAMP = "MsvAvTimestamp"
MSV_AV_FLAGS = "MsvAvFlags"
MSV_AV_TARGET_NAME = "MsvAvTargetName"
MSV_AV_NB_COMPUTER_NAME = "MsvAvNbComputerName"
MSV_AV_DNS_COMPUTER_NAME = "MsvAvDnsComputerName"
NEGOTIATE_FLAGS = "NegotiateFlags"
NT_PROOF_STR = "NTProofStr"
MIC = "MIC"

# Kerberos (RFC 4120 5)
AS_REQ = "AsReq"
TGS_REQ = "TgsReq"
AP_REQ = "ApReq"
AP_REP = "ApRep"
KRB_ERROR = "KrbError"
TICKET = "Ticket"
REQ_BODY = "ReqBody"
REALM = "Realm"
CNAME = "Cname"
SNAME = "Sname"
ETYPE = "Etype"
ERROR_CODE = "ErrorCode"
AS_REP = "AsRep"
TGS_REP = "TgsRep"
PADATA_TYPE = "PadataType"
CREALM = "Crealm"
ENC_PART = "EncPart"  # EncryptedData (RFC 4120 5.2.9)
CIPHER = "Cipher"
PA_ENC_TIMESTAMP = "PaEncTimestamp"  # RFC 4120 5.2.7.2
ETYPE_INFO2 = "EtypeInfo2"  # RFC 4120 5.2.7.5
SALT = "Salt"
KDC_OPTIONS = "KdcOptions"  # RFC 4120 5.4.1
CNAME_IN_ADDL_TKT = "CnameInAddlTkt"  # its bit, MS-SFU 2.2.3 (S4U2Proxy)
ENC_TKT_IN_SKEY = "EncTktInSkey"  # its bit, RFC 4120 2.9.2 (user-to-user)
ADDITIONAL_TICKETS = "AdditionalTickets"
PA_FOR_USER = "PaForUser"  # MS-SFU 2.2.1
PA_FOR_USER_NAME = "UserName"
PA_S4U_X509_USER = "PaS4uX509User"  # MS-SFU 2.2.2
S4U_USER_ID = "UserId"

# NEGOEX ([MS-NEGOEX] 2.2.6)
NEGOEX = "Negoex"  # the root of a run of NEGOEX messages
MESSAGE_HEADER = "MessageHeader"
AUTH_SCHEME = "AuthScheme"
CONVERSATION_ID = "ConversationId"

# The PAC ([MS-PAC] 2.3-2.15), inside a decrypted ticket
PACTYPE = "PACTYPE"  # the root of a decoded PAC
KERB_VALIDATION_INFO = "KERB_VALIDATION_INFO"
EFFECTIVE_NAME = "EffectiveName"
USER_ID = "UserId"
LOGON_DOMAIN_NAME = "LogonDomainName"
LOGON_COUNT = "LogonCount"
LOGON_DOMAIN_ID = "LogonDomainId"
GROUP_MEMBERSHIP = "GROUP_MEMBERSHIP"  # its value the RelativeId
PRIMARY_GROUP_ID = "PrimaryGroupId"
GROUP_IDS = "GroupIds"
EXTRA_SIDS = "ExtraSids"
RESOURCE_GROUP_DOMAIN_SID = "ResourceGroupDomainSid"
RESOURCE_GROUP_IDS = "ResourceGroupIds"
PAC_CLIENT_INFO = "PAC_CLIENT_INFO"  # its value the client's name
UPN_DNS_INFO = "UPN_DNS_INFO"
SAM_NAME = "SamName"
PAC_SID = "Sid"  # UPN_DNS_INFO's and PAC_REQUESTOR's SID
PAC_REQUESTOR = "PAC_REQUESTOR"
PAC_ATTRIBUTES_INFO = "PAC_ATTRIBUTES_INFO"
PAC_SERVER_CHECKSUM = "PAC_SERVER_CHECKSUM"
PAC_PRIVSVR_CHECKSUM = "PAC_PRIVSVR_CHECKSUM"
PAC_TICKET_CHECKSUM = "PAC_TICKET_CHECKSUM"
PAC_FULL_CHECKSUM = "PAC_FULL_CHECKSUM"
PAC_SIGNATURE = "Signature"  # a PAC_SIGNATURE_DATA's, carrying the verdict
# The decrypted EncTicketPart (RFC 4120 5.3) and Authenticator (5.5.1)
ENC_TICKET_PART = "EncTicketPart"
AUTHENTICATOR = "Authenticator"  # the EncryptedData and, under it, the decrypted one
CTIME = "Ctime"
AUTHTIME = "Authtime"
STARTTIME = "Starttime"
ENDTIME = "Endtime"
