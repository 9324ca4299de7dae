# confetti_proto_library(NAME ROOT <dir> FILES <rel.proto>...)
# Generates protobuf-c code at build time (never committed) into ${CMAKE_BINARY_DIR}/gen and
# builds it as a static library NAME. Well-known types (google/protobuf/*.proto) resolve from
# the system include directory.
set(CONFETTI_GEN_DIR ${CMAKE_BINARY_DIR}/gen)
set(CONFETTI_WKT_DIR /usr/include CACHE PATH "directory holding google/protobuf/*.proto")

function(confetti_proto_library name)
  cmake_parse_arguments(P "" "ROOT" "FILES;DEPS" ${ARGN})
  set(srcs)
  foreach(rel ${P_FILES})
    string(REGEX REPLACE "\\.proto$" "" stem ${rel})
    if(EXISTS ${P_ROOT}/${rel})
      set(abs ${P_ROOT}/${rel})
    else()
      set(abs ${CONFETTI_WKT_DIR}/${rel})
    endif()
    set(out_c ${CONFETTI_GEN_DIR}/${stem}.pb-c.c)
    set(out_h ${CONFETTI_GEN_DIR}/${stem}.pb-c.h)
    add_custom_command(
      OUTPUT ${out_c} ${out_h}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CONFETTI_GEN_DIR}
      COMMAND ${PROTOC_C} --proto_path=${P_ROOT} --proto_path=${CMAKE_SOURCE_DIR}/proto
              --proto_path=${CONFETTI_WKT_DIR} --c_out=${CONFETTI_GEN_DIR} ${abs}
      DEPENDS ${abs}
      COMMENT "protoc-c ${rel}")
    list(APPEND srcs ${out_c})
  endforeach()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${CONFETTI_GEN_DIR})
  target_link_libraries(${name} PUBLIC PkgConfig::PROTOBUFC ${P_DEPS})
  # generated code is not ours to lint
  target_compile_options(${name} PRIVATE -Wno-unused-parameter)
endfunction()
