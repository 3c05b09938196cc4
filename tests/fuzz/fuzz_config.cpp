// libFuzzer target: the configuration loader on arbitrary YAML text (and its rendering when it loads).
#include "config/config_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ksid::config;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    auto loaded = load_config_text(input, "fuzz.yaml", [](std::string_view) { return std::nullopt; });
    if (loaded) (void)render_config_yaml(*loaded);
    return 0;
}
