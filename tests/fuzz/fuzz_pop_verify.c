/* Fuzz target: proof-of-possession answers against fixed CAs (tests/fuzz/corpus/pop_verify/).
 *
 * Input layout: byte 0 picks the CA (EC P-256, RSA 2048 or Ed25519, modulo 3); bytes 1-2 and
 * 3-4 are the little-endian lengths of the verification code and of the signature (each cut
 * to what is left); then the code, the signature, and the rest: a verification certificate
 * (DER or PEM). Every input runs both verifiers (raw and base64 signature; certificate when
 * one parses) and the subject-name parser on the code. Invariants checked (abort on
 * violation): results are 0 or negative, a valid certificate really has CN = code, and
 * "CN=" + pki_issue_name_escape(code) parses back to exactly the code.
 *
 * The CA keys below are test-only keys, used nowhere else; they are fixed so that the seed
 * corpus can hold valid signatures and a valid verification certificate. The seeds were made
 * with the CA certificate "CN=Fuzz CA" of the EC key:
 *   openssl req -x509 -key ec.key -subj "/CN=Fuzz CA" -days 36500 -out ca.pem
 *   certgate pki verification-cert --ca-cert ca.pem --ca-key ec.key --code CODE \
 *       --not-before 2026-01-01 --not-after 2036-01-01 --out-cert vc.pem
 *   printf %s CODE | openssl dgst -sha256 -sign ec.key > sig.bin
 * and packed in the layout above.
 */
#include "core/err.h"
#include "core/str.h"
#include "pki/issue.h"
#include "pki/pop.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ec_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgol5DXoKNUlFB6TJA\n"
    "+0TyETQzicsF5d8s3+xYYzV+SiuhRANCAATcI6LF+AYpsYFk1x01x26wA77cKr9u\n"
    "U+5i09XlZi41t4nv5X/83jzV1P4UB2cgx0UcT22DQaszHBdXfqzjnGSD\n"
    "-----END PRIVATE KEY-----\n";

static const char rsa_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDFC177I260/fi5\n"
    "RhGMsjjg6IiGDtXmr2uiaJLqabNfftqqwNgCTKn6AlgmX6QPQrZFdlM7JXWm0fVo\n"
    "/e8LJGXbR16TJOIG4TDuTNifTo0pGQ9n9kAN31qx5QZFRn+kTLwcGz3unjZpmmxQ\n"
    "sfdpIZPV9JAOrIefve2kxDSa4fEg91NGG5R3qWMMx7tYy/CXSHWkOX5Y71ufAoRn\n"
    "LMYxDAFT0KbV7BRTuJZLsOBNxrpLll6DJiqnIZgbxdUQjW0lJfaMz2C+cFhDdfCC\n"
    "G861tfwRhnZk5UYoB87FDGzrvwTyraxe8wQVrHbHbDBrEW5fkXfLdffCHDZH8CWv\n"
    "fKK5NyPBAgMBAAECggEAVHiGdEUBTafeu5ZVKaqxhYFKHaY4fpdPHiWUbdd4ZQTd\n"
    "uvvG3l19NMdSgMjZbQ1dVDPghGePoz845JSPqIgm/jT/TzctimN5dX8OEmU7UJYE\n"
    "q72+QfQxTjfvUz1gtM+MiMQI7cV3cBgaPRG+DZyuYrdgFlpSHeHvAYZ3Qrp/g3Ci\n"
    "yMVy6K9QKhbZu6hF+IvvFow71KYbCN64Oo0poouOtn0m2Y9GHfdCamoKKmifODK2\n"
    "hq9qQ04KcooRH0QX3Q3K4mP85hXdT5NDfgR7l8nd6gdvWYJenL8lCWxu7hixl+Dj\n"
    "tp5/cY+WXwS6clksRjG1RbH7Kvay0Cp6JZ71K0+UrQKBgQDq46LvADeHqmgnsFUg\n"
    "ylrgnAUwBSoyv4o5rhCTMsraU2cGEbrCpOlJ6ZWpwlE4p9iDBqSfaHwrLB9RGVM/\n"
    "tpBLaESQ+LruRphTMf9rHNmBJk6UO7xk7EQaLm44cCsdCJ81KttsVvQuc2R7OLQz\n"
    "CnWzP3sbfxdlzCP01Y9U6Q6B0wKBgQDWwP8WPBi+WZbcTY3gn27Y9Qn6QJ4QLgaz\n"
    "lwcmHuRH9YZrLC1QEV7FguC33dCOaovtK0O19HaOU3w9Ogi3d6nMIFVsD0WBs78I\n"
    "wiWmfEOHoYSJ69bAtj2EDY+dEumNSB1bt5ysDhNSEDossvuSy21cZxoBmmBPNrVO\n"
    "0c6pk7izmwKBgGZ5yavbvF5Dyg0GsR0NK3iymNDKcA6T4gooFrMhhb6ahGfxdDlX\n"
    "GTBV6CWX0TeWgq8nRssFGqb7KO6IzfkN/QXpB4D4AxXRVsN1HKnufDYMMFwbc6XU\n"
    "LiH9/7g/t4+DI3JesDwj84QQc9YOdw+NkKwTFfJ5EAwpc8ZtJYs14k5hAoGBAMDf\n"
    "BnoGsUZLmeTztid1qQ0rTbG21P69B4HFc0M2XVmPVhDs1Sli4FXNDFu12Hf/kvoH\n"
    "cEF7c/qxWhR3CZsU2qecpnttX8R0FW8dRsk2M0QduLZR3EappafysfelI6KikNNt\n"
    "nUUdQxbhwg2hFbYqA2cIpd+osTSTctR+M/gy1qBfAoGAOspv2Kgl8C8FMEduLKTA\n"
    "QFmGbS8TUctoGiu3U+kR8jBpKNxYJrnu8m8byqpUaS4WhTDYlQ90aSiseJEeCl3g\n"
    "TIamVlVy7LzE/8FHsPRNwYZo/qZym7IQUmKZjLTHQFh534b0v1q7j5UxYsgmxnmJ\n"
    "VBiFkAerPJ/6BNG9zXgjbsA=\n"
    "-----END PRIVATE KEY-----\n";

static const char ed_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIDqRJm5ftAz1s44pneBSeZFVsZGQr4f0FJJEbsUU1Icr\n"
    "-----END PRIVATE KEY-----\n";

#define NCAS 3
static X509 *cas[NCAS];

/* 2027-01-15: fixed, so that runs are reproducible (the seed certificate covers it). */
static const int64_t fuzz_now_ms = 1800000000000LL;

static X509 *make_ca(const char *pem)
{
    EVP_PKEY *key = NULL;
    X509 *ca = NULL;
    struct pki_issue_request req;
    if (pki_issue_key_parse(pem, strlen(pem), NULL, "fuzz key", &key, NULL, 0) != 0) {
        abort();
    }
    pki_issue_request_init(&req, PKI_ISSUE_ROOT_CA, "CN=Fuzz CA", fuzz_now_ms, 36500);
    if (pki_issue_cert(&req, key, NULL, NULL, &ca, NULL, 0) != 0) {
        abort();
    }
    EVP_PKEY_free(key);
    return ca;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    cas[0] = make_ca(ec_key_pem);
    cas[1] = make_ca(rsa_key_pem);
    cas[2] = make_ca(ed_key_pem);
    return 0;
}

static void check_escape_round_trip(const char *code)
{
    char esc[3 * PKI_POP_CODE_MAX + 4];
    char text[sizeof(esc) + 3];
    X509_NAME *name = NULL;
    if (strlen(code) > PKI_POP_CODE_MAX) {
        return;
    }
    if (pki_issue_name_escape(code, esc, sizeof(esc)) != 0) {
        abort(); /* the buffer is always large enough */
    }
    memcpy(text, "CN=", 3);
    memcpy(text + 3, esc, strlen(esc) + 1);
    if (pki_issue_name_parse(text, &name, NULL, 0) != 0) {
        return; /* not UTF-8, too long for a CN, ...: refused, fine */
    }
    unsigned char *utf8 = NULL;
    int n = X509_NAME_entry_count(name) == 1
                ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, 0)))
                : -1;
    if (n < 0 || (size_t)n != strlen(code) || memcmp(utf8, code, (size_t)n) != 0) {
        abort();
    }
    OPENSSL_free(utf8);
    X509_NAME_free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5) {
        return 0;
    }
    X509 *ca = cas[data[0] % NCAS];
    size_t code_len = (size_t)data[1] | (size_t)data[2] << 8;
    size_t sig_len = (size_t)data[3] | (size_t)data[4] << 8;
    data += 5;
    size -= 5;
    code_len = code_len < size ? code_len : size;
    sig_len = sig_len < size - code_len ? sig_len : size - code_len;
    char *code = str_ndup((const char *)data, code_len);
    char *sig_text = str_ndup((const char *)data + code_len, sig_len);
    if (code == NULL || sig_text == NULL) {
        abort();
    }
    const uint8_t *sig = data + code_len;
    const uint8_t *rest = sig + sig_len;
    size_t rest_len = size - code_len - sig_len;

    if (pki_pop_verify_signature(ca, code, sig, sig_len) > 0 ||
        pki_pop_verify_signature_b64(ca, code, sig_text) > 0) {
        abort();
    }

    STACK_OF(X509) *certs = NULL;
    if (rest_len > 0 && pki_issue_certs_parse(rest, rest_len, "fuzz", &certs, NULL, 0) == 0) {
        char why[256];
        X509 *vc = sk_X509_value(certs, 0);
        int rc = pki_pop_verify_certificate(ca, vc, code, fuzz_now_ms, why, sizeof(why));
        if (rc > 0) {
            abort();
        }
        if (rc == 0) {
            /* Accepted: its single CN must be the code, byte for byte. */
            X509_NAME *subject = X509_get_subject_name(vc);
            int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
            unsigned char *cn = NULL;
            int n = idx < 0 ? -1
                            : ASN1_STRING_to_UTF8(
                                  &cn, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)));
            if (n < 0 || (size_t)n != strlen(code) || memcmp(cn, code, (size_t)n) != 0) {
                abort();
            }
            OPENSSL_free(cn);
        } else if (why[0] == 0) {
            abort(); /* every refusal says why */
        }
        sk_X509_pop_free(certs, X509_free);
    }

    X509_NAME *name = NULL;
    if (pki_issue_name_parse(code, &name, NULL, 0) == 0) {
        char text[4096];
        pki_issue_name_text(name, text, sizeof(text));
        X509_NAME_free(name);
    }
    check_escape_round_trip(code);

    free(code);
    free(sig_text);
    ERR_clear_error();
    return 0;
}
