// Compiles the header as C++ (the extern "C" guard) and links against the library.
#include <cstdio>
#include <cstring>

#include "restricted_runner.h"

int main() {
    rr_runner *r = nullptr;
    rr_error *e = nullptr;
    if (rr_runner_new("exec", nullptr, &r, &e) != RR_OK) {
        std::fprintf(stderr, "rr_runner_new: %s\n", rr_error_message(e));
        rr_error_free(e);
        return 1;
    }
    rr_output out;
    rr_status rc = rr_run(r, nullptr, "echo c++", nullptr, nullptr, 0, &out, &e);
    bool ok = rc == RR_OK && std::strcmp(out.stdout_data, "c++\n") == 0;
    if (rc == RR_OK)
        rr_output_free(&out);
    rr_runner_free(r);
    std::printf("%s c++ header and link (version %s)\n", ok ? "ok  " : "FAIL", rr_version());
    std::printf("%d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
    return ok ? 0 : 1;
}
