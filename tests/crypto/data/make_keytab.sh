#!/bin/sh
# Rebuild ktutil.keytab with MIT krb5's ktutil (Debian krb5-user 1.20.1): two principals, five
# etypes, from known passwords.  No KDC is involved: ktutil salts with the principal's default
# salt (RFC 4120: realm + components) and the default iteration counts.  The timestamps change
# on every run; test_keytab.py checks keys against string_to_key and entries against klist.
set -eu
out=$(dirname "$0")/ktutil.keytab
rm -f "$out"
printf '%s\n' \
    'addent -password -p alice@NEGO.TEST -k 3 -e aes256-cts-hmac-sha1-96' 'Alice-Pass-2024' \
    'addent -password -p alice@NEGO.TEST -k 3 -e aes128-cts-hmac-sha1-96' 'Alice-Pass-2024' \
    'addent -password -p alice@NEGO.TEST -k 3 -e rc4-hmac' 'Alice-Pass-2024' \
    'addent -password -p host/dc1.nego.test@NEGO.TEST -k 300 -e aes256-cts-hmac-sha384-192' \
    'Machine-Pass-1' \
    'addent -password -p host/dc1.nego.test@NEGO.TEST -k 300 -e aes128-cts-hmac-sha256-128' \
    'Machine-Pass-1' \
    "wkt $out" 'q' | KRB5_CONFIG=/dev/null ktutil >/dev/null
