{
  "targets": [{
    "target_name": "refinery",
    "sources": [
      "src/addon.cc", "src/distributed.cc",
      "generated/ops_0.cc", "generated/ops_1.cc", "generated/ops_2.cc", "generated/ops_3.cc"
    ],
    "include_dirs": [
      "<!(node -p \"require('node-addon-api').include_dir\")",
      "<!@(node config.js include)"
    ],
    "defines": ["NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "_GLIBCXX_USE_CXX11_ABI=<!(node config.js abi)", "<!@(node config.js defines)"],
    "cflags!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
    "cflags_cc": ["-std=<!(node config.js std)", "-fexceptions", "-frtti", "-O2", "-Wno-deprecated-declarations", "-Wno-unused-variable"],
    "libraries": [
      "-L<!(node config.js lib)",
      "-Wl,-rpath,<!(node config.js lib)",
      "-Wl,--no-as-needed", "<!@(node config.js libs)", "-Wl,--as-needed"
    ]
  }]
}
