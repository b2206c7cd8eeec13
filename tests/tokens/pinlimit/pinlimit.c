/*
 * pinlimit: a PKCS#11 pass-through module in front of a real one (SoftHSM2 in the tests) that adds
 * what SoftHSM2 lacks: a user-PIN retry counter. After PINLIMIT_TRIES wrong PINs the PIN is locked
 * (CKR_PIN_LOCKED), and C_GetTokenInfo reports CKF_USER_PIN_COUNT_LOW / FINAL_TRY / LOCKED like a
 * smart card. The counter lives in the file PINLIMIT_STATE so it survives between processes.
 * With PINLIMIT_REMOVE_AFTER=N it also plays a card pulled out of the reader after N signatures:
 * every later session or key operation answers CKR_DEVICE_REMOVED, as a real module does.
 *
 * More modes (issue 14: tokens at run time):
 *  - PINLIMIT_PINPAD=<pin>: the token advertises CKF_PROTECTED_AUTHENTICATION_PATH, as a PIN-pad reader
 *    does, and a C_Login (user or context-specific) with a NULL/empty PIN logs in to the real module with
 *    <pin>, as if typed on the reader; PINLIMIT_PINPAD_DELAY_MS makes that login take as long as a
 *    person typing on the pad (Firefox's "authenticate to the security device" window misses a login
 *    that completes before it is shown).
 *  - PINLIMIT_HANG_SIGN=1: C_Sign never returns (a middleware stuck in a call).
 *  - PINLIMIT_CRASH_SIGN=1: C_Sign writes through a NULL pointer (a middleware that segfaults).
 *  - PINLIMIT_READER=<reader name prefix>: the token is present only while PC/SC reports a card in that
 *    reader (pcscd + vpcd + vicc in the tests): without a card, the slot is empty and session and key
 *    calls answer CKR_DEVICE_REMOVED; when the card leaves, every session of the real module is closed
 *    (its login is gone, as with a real card).
 *  - PINLIMIT_SOFTHSM2_CONF=<path>: SOFTHSM2_CONF while the real module initialises, so a second copy of
 *    SoftHSM2 behind this module reads another token directory.
 * Each setting is read from `<this module's path>.env` (KEY=VALUE lines) first, then from the environment,
 * so several copies of this module in one process are configured independently.
 *  - PINLIMIT_REMOVED_FLAG=PATH: the card counts as pulled out while that file exists (a test pulls it at
 *    a chosen moment, e.g. from a dialog hook); decryption is cut off too.
 * Test-only: it sits *below* the real token, never instead of it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST ours;
static CK_FUNCTION_LIST_PTR real;

/* -- settings: <module>.env, then the environment ------------------------------------------------ */
#define MAX_SETTINGS 16
static char setting_keys[MAX_SETTINGS][64];
static char setting_values[MAX_SETTINGS][512];
static int settings_count;

static void load_settings(void) {
    Dl_info info;
    char path[4096];
    if (!dladdr((void *)&load_settings, &info) || !info.dli_fname) return;
    snprintf(path, sizeof path, "%s.env", info.dli_fname);
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[600];
    while (settings_count < MAX_SETTINGS && fgets(line, sizeof line, f)) {
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = 0;
        line[strcspn(line, "\r\n")] = 0;
        eq[1 + strcspn(eq + 1, "\r\n")] = 0;
        snprintf(setting_keys[settings_count], sizeof setting_keys[0], "%s", line);
        snprintf(setting_values[settings_count], sizeof setting_values[0], "%s", eq + 1);
        settings_count++;
    }
    fclose(f);
}

static const char *setting(const char *name) {
    for (int i = 0; i < settings_count; i++)
        if (strcmp(setting_keys[i], name) == 0) return setting_values[i];
    return getenv(name);
}

static int max_tries(void) {
    const char *v = setting("PINLIMIT_TRIES");
    return v ? atoi(v) : 3;
}

static int load_failures(void) {
    const char *path = setting("PINLIMIT_STATE");
    int n = 0;
    FILE *f = path ? fopen(path, "r") : NULL;
    if (f) { if (fscanf(f, "%d", &n) != 1) n = 0; fclose(f); }
    return n;
}

static void save_failures(int n) {
    const char *path = setting("PINLIMIT_STATE");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (f) { fprintf(f, "%d\n", n); fclose(f); }
}

/* -- card presence: PINLIMIT_READER ---------------------------------------------------------------- */
/* libpcsclite is opened only when PINLIMIT_READER is set, so building this module needs no PC/SC headers
 * nor -lpcsclite. Types and values: pcsc-lite's ABI on Linux (winscard.h, pcsclite.h). */
typedef struct {
    const char *szReader;
    void *pvUserData;
    unsigned long dwCurrentState, dwEventState, cbAtr;
    unsigned char rgbAtr[33];
} pl_readerstate;
#define PL_SCOPE_SYSTEM 2
#define PL_STATE_UNAWARE 0x0
#define PL_STATE_PRESENT 0x20
#define PL_E_INVALID_HANDLE 0x80100003UL
#define PL_E_NO_SERVICE 0x8010001DUL
#define PL_E_SERVICE_STOPPED 0x8010001EUL
static long (*pl_establish)(unsigned long, const void *, const void *, long *);
static long (*pl_release)(long);
static long (*pl_list_readers)(long, const char *, char *, unsigned long *);
static long (*pl_status_change)(long, unsigned long, pl_readerstate *, unsigned long);

static int pcsc_loaded(void) {
    static void *lib;
    if (lib) return 1;
    lib = dlopen("libpcsclite.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return 0;
    pl_establish = (long (*)(unsigned long, const void *, const void *, long *))dlsym(lib, "SCardEstablishContext");
    pl_release = (long (*)(long))dlsym(lib, "SCardReleaseContext");
    pl_list_readers = (long (*)(long, const char *, char *, unsigned long *))dlsym(lib, "SCardListReaders");
    pl_status_change = (long (*)(long, unsigned long, pl_readerstate *, unsigned long))dlsym(lib, "SCardGetStatusChange");
    if (!pl_establish || !pl_release || !pl_list_readers || !pl_status_change) { dlclose(lib); lib = NULL; }
    return lib != NULL;
}

static pthread_mutex_t pcsc_lock = PTHREAD_MUTEX_INITIALIZER;
static long pcsc_context;
static int pcsc_ready, card_was_present;

static void close_all_sessions(void) {
    CK_SLOT_ID slots[16];
    CK_ULONG n = 16;
    if (real->C_GetSlotList(CK_FALSE, slots, &n) != CKR_OK) return;
    for (CK_ULONG i = 0; i < n; i++) real->C_CloseAllSessions(slots[i]);
}

/* Whether a card is in the PINLIMIT_READER reader (always true without that setting). */
static int card_present(void) {
    const char *prefix = setting("PINLIMIT_READER");
    if (!prefix || !*prefix) return 1;
    int present = 0;
    pthread_mutex_lock(&pcsc_lock);
    if (!pcsc_ready && pcsc_loaded() && pl_establish(PL_SCOPE_SYSTEM, NULL, NULL, &pcsc_context) == 0)
        pcsc_ready = 1;
    if (pcsc_ready) {
        char readers[2048];
        unsigned long size = sizeof readers;
        unsigned long rv = (unsigned long)pl_list_readers(pcsc_context, NULL, readers, &size) & 0xFFFFFFFFUL;
        if (rv == PL_E_NO_SERVICE || rv == PL_E_SERVICE_STOPPED || rv == PL_E_INVALID_HANDLE) {
            pl_release(pcsc_context);
            pcsc_ready = 0;
        }
        for (char *r = readers; rv == 0 && *r; r += strlen(r) + 1) {
            if (strncmp(r, prefix, strlen(prefix)) != 0) continue;
            pl_readerstate state = {0};
            state.szReader = r;
            state.dwCurrentState = PL_STATE_UNAWARE;
            if (pl_status_change(pcsc_context, 0, &state, 1) == 0 && (state.dwEventState & PL_STATE_PRESENT))
                present = 1;
            break;
        }
    }
    if (card_was_present && !present) close_all_sessions();  /* the card took its login with it */
    card_was_present = present;
    pthread_mutex_unlock(&pcsc_lock);
    return present;
}

static long signatures_done;

static int removed(void) {
    const char *v = setting("PINLIMIT_REMOVE_AFTER");
    const char *flag = setting("PINLIMIT_REMOVED_FLAG");
    if (flag && access(flag, F_OK) == 0) return 1;
    return (v && signatures_done >= atol(v)) || !card_present();
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
    const char *hang = setting("PINLIMIT_HANG_SIGN");
    if (hang && *hang && *hang != '0')
        for (;;) pause();  /* a middleware stuck in the call: only the process's end stops it */
    const char *crash = setting("PINLIMIT_CRASH_SIGN");
    if (crash && *crash && *crash != '0') {
        volatile int *nowhere = NULL;
        *nowhere = 1;  /* SIGSEGV, as a buggy middleware does: the whole process goes down */
    }
    CK_RV rv = real->C_Sign(h, d, n, sig, len);
    if (rv == CKR_OK && sig != NULL) signatures_done++;
    return rv;
}

static CK_RV pl_find_init(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n) {
    return removed() ? CKR_DEVICE_REMOVED : real->C_FindObjectsInit(h, t, n);
}

static CK_RV pl_open_session(CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR app, CK_NOTIFY cb, CK_SESSION_HANDLE_PTR h) {
    return removed() ? CKR_DEVICE_REMOVED : real->C_OpenSession(s, f, app, cb, h);
}

static CK_RV pl_slot_list(CK_BBOOL token_present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count) {
    if (token_present && !card_present()) {
        *count = 0;
        return CKR_OK;
    }
    return real->C_GetSlotList(token_present, list, count);
}

static CK_RV pl_slot_info(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info) {
    CK_RV rv = real->C_GetSlotInfo(slot, info);
    if (rv == CKR_OK && !card_present()) info->flags &= ~CKF_TOKEN_PRESENT;
    return rv;
}

static CK_RV pl_login(CK_SESSION_HANDLE h, CK_USER_TYPE type, CK_UTF8CHAR_PTR pin, CK_ULONG len) {
    if (type == CKU_SO) return real->C_Login(h, type, pin, len);
    if (!card_present()) return CKR_DEVICE_REMOVED;
    const char *pinpad = setting("PINLIMIT_PINPAD");
    if (pinpad && *pinpad && (pin == NULL || len == 0)) {  /* "typed on the reader" */
        pin = (CK_UTF8CHAR_PTR)pinpad;
        len = strlen(pinpad);
        const char *delay = setting("PINLIMIT_PINPAD_DELAY_MS");
        long ms = delay ? atol(delay) : 0;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        if (ms > 0) nanosleep(&ts, NULL);
    }
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
    if (!card_present()) return CKR_TOKEN_NOT_PRESENT;
    CK_RV rv = real->C_GetTokenInfo(slot, info);
    if (rv != CKR_OK) return rv;
    const char *pinpad = setting("PINLIMIT_PINPAD");
    if (pinpad && *pinpad) info->flags |= CKF_PROTECTED_AUTHENTICATION_PATH;
    int failures = load_failures(), max = max_tries();
    info->flags &= ~(CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED);
    if (failures > 0) info->flags |= CKF_USER_PIN_COUNT_LOW;
    if (failures == max - 1) info->flags |= CKF_USER_PIN_FINAL_TRY;
    if (failures >= max) info->flags |= CKF_USER_PIN_LOCKED;
    return CKR_OK;
}

/* SOFTHSM2_CONF is read by SoftHSM2's C_Initialize: point it at our token directory for that call. */
static CK_RV pl_initialize(CK_VOID_PTR args) {
    const char *conf = setting("PINLIMIT_SOFTHSM2_CONF");
    if (!conf || !*conf) return real->C_Initialize(args);
    const char *old = getenv("SOFTHSM2_CONF");
    char *saved = old ? strdup(old) : NULL;
    setenv("SOFTHSM2_CONF", conf, 1);
    CK_RV rv = real->C_Initialize(args);
    if (saved) { setenv("SOFTHSM2_CONF", saved, 1); free(saved); } else unsetenv("SOFTHSM2_CONF");
    return rv;
}

static CK_RV pl_finalize(CK_VOID_PTR reserved) {
    pthread_mutex_lock(&pcsc_lock);
    if (pcsc_ready) pl_release(pcsc_context);
    pcsc_ready = card_was_present = 0;
    pthread_mutex_unlock(&pcsc_lock);
    return real->C_Finalize(reserved);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out) {
    if (!real) {
        load_settings();
        const char *path = setting("PINLIMIT_MODULE");
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
        ours.C_Initialize = pl_initialize;
        ours.C_Finalize = pl_finalize;
        ours.C_GetSlotList = pl_slot_list;
        ours.C_GetSlotInfo = pl_slot_info;
        ours.C_DecryptInit = pl_decrypt_init;
        ours.C_FindObjectsInit = pl_find_init;
        ours.C_Decrypt = pl_decrypt;
    }
    *out = &ours;
    return CKR_OK;
}
