/*
 * pinlimit: a PKCS#11 pass-through module in front of a real one (SoftHSM2 in the tests) that adds
 * what SoftHSM2 lacks: a user-PIN retry counter. After PINLIMIT_TRIES wrong PINs the PIN is locked
 * (CKR_PIN_LOCKED), and C_GetTokenInfo reports CKF_USER_PIN_COUNT_LOW / FINAL_TRY / LOCKED like a
 * smart card. The counter lives in the file PINLIMIT_STATE so it survives between processes.
 * With PINLIMIT_REMOVE_AFTER=N it also plays a card pulled out of the reader after N signatures:
 * every later session or key operation answers CKR_DEVICE_REMOVED, as a real module does.
 * With PINLIMIT_REMOVED_FLAG=PATH the card counts as pulled out while that file exists (a test
 * pulls it at a chosen moment, e.g. from a dialog hook); decryption is cut off too.
 * Test-only: it sits *below* the real token, never instead of it.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST ours;
static CK_FUNCTION_LIST_PTR real;

static int max_tries(void) {
    const char *v = getenv("PINLIMIT_TRIES");
    return v ? atoi(v) : 3;
}

static int load_failures(void) {
    const char *path = getenv("PINLIMIT_STATE");
    int n = 0;
    FILE *f = path ? fopen(path, "r") : NULL;
    if (f) { if (fscanf(f, "%d", &n) != 1) n = 0; fclose(f); }
    return n;
}

static void save_failures(int n) {
    const char *path = getenv("PINLIMIT_STATE");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (f) { fprintf(f, "%d\n", n); fclose(f); }
}

static long signatures_done;

static int removed(void) {
    const char *v = getenv("PINLIMIT_REMOVE_AFTER");
    const char *flag = getenv("PINLIMIT_REMOVED_FLAG");
    if (flag && access(flag, F_OK) == 0) return 1;
    return v && signatures_done >= atol(v);
}

static CK_RV pl_decrypt_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) {
    return removed() ? CKR_DEVICE_REMOVED : real->C_DecryptInit(h, m, k);
}

static CK_RV pl_decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out, CK_ULONG_PTR len) {
    return removed() ? CKR_DEVICE_REMOVED : real->C_Decrypt(h, in, n, out, len);
}

static CK_RV pl_sign_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) {
    return removed() ? CKR_DEVICE_REMOVED : real->C_SignInit(h, m, k);
}

static CK_RV pl_sign(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR sig, CK_ULONG_PTR len) {
    if (removed()) return CKR_DEVICE_REMOVED;
    CK_RV rv = real->C_Sign(h, d, n, sig, len);
    if (rv == CKR_OK && sig != NULL) signatures_done++;
    return rv;
}

static CK_RV pl_open_session(CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR app, CK_NOTIFY cb, CK_SESSION_HANDLE_PTR h) {
    return removed() ? CKR_DEVICE_REMOVED : real->C_OpenSession(s, f, app, cb, h);
}

static CK_RV pl_login(CK_SESSION_HANDLE h, CK_USER_TYPE type, CK_UTF8CHAR_PTR pin, CK_ULONG len) {
    if (type == CKU_SO) return real->C_Login(h, type, pin, len);
    int failures = load_failures();
    if (failures >= max_tries()) return CKR_PIN_LOCKED;
    CK_RV rv = real->C_Login(h, type, pin, len);
    if (rv == CKR_PIN_INCORRECT) {
        save_failures(++failures);
        return failures >= max_tries() ? CKR_PIN_LOCKED : CKR_PIN_INCORRECT;
    }
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) save_failures(0);
    return rv;
}

static CK_RV pl_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info) {
    CK_RV rv = real->C_GetTokenInfo(slot, info);
    if (rv != CKR_OK) return rv;
    int failures = load_failures(), max = max_tries();
    info->flags &= ~(CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED);
    if (failures > 0) info->flags |= CKF_USER_PIN_COUNT_LOW;
    if (failures == max - 1) info->flags |= CKF_USER_PIN_FINAL_TRY;
    if (failures >= max) info->flags |= CKF_USER_PIN_LOCKED;
    return CKR_OK;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out) {
    if (!real) {
        const char *path = getenv("PINLIMIT_MODULE");
        void *lib = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
        if (!lib) return CKR_GENERAL_ERROR;
        CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR) = (CK_RV (*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(lib, "C_GetFunctionList");
        if (!get || get(&real) != CKR_OK) return CKR_GENERAL_ERROR;
        memcpy(&ours, real, sizeof ours);
        ours.C_Login = pl_login;
        ours.C_GetTokenInfo = pl_token_info;
        ours.C_SignInit = pl_sign_init;
        ours.C_Sign = pl_sign;
        ours.C_OpenSession = pl_open_session;
        ours.C_DecryptInit = pl_decrypt_init;
        ours.C_Decrypt = pl_decrypt;
    }
    *out = &ours;
    return CKR_OK;
}
