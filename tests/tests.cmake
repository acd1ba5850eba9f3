# Unit tests live beside their modules (src/<layer>/<module>_test.c, cmocka);
# black-box tests live in tests/ (tests/*_test.c). Each is one ctest with a
# timeout, so one hang cannot stall the suite.
file(GLOB_RECURSE unit_tests CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/src/*_test.c ${CMAKE_SOURCE_DIR}/tests/*_test.c)
foreach(src ${unit_tests})
  get_filename_component(n ${src} NAME_WE)
  weft_program(${n} ${src})
  target_link_libraries(${n} PRIVATE ${CMOCKA_LIB})
  # tests/testutil.h: helpers shared by every test file.
  target_include_directories(${n} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  # tests that read files shipped in the repository (examples/data)
  target_compile_definitions(${n} PRIVATE WEFT_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  set_target_properties(${n} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${n} COMMAND ${n})
  set_tests_properties(${n} PROPERTIES TIMEOUT 600
    ENVIRONMENT "WEFT_EXAMPLES_DIR=${CMAKE_BINARY_DIR}/examples;WEFT_BIN=${CMAKE_BINARY_DIR}/weft;WEFT_SCRIPTS_DIR=${CMAKE_SOURCE_DIR}/scripts")
endforeach()
foreach(t cli_test cluster_cli_test cluster_test csv_cli_test)
  if(TARGET ${t})
    add_dependencies(${t} weft)
  endif()
endforeach()

# A library of task functions for worker processes started as
# `weft worker --library` (worker_lib_test). Its weft symbols resolve
# against the program that loads it.
add_library(weft_test_lib SHARED ${CMAKE_SOURCE_DIR}/tests/lib/worker_lib.c)
target_include_directories(weft_test_lib PRIVATE ${CMAKE_SOURCE_DIR}/include)
set_target_properties(weft_test_lib PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
foreach(t worker_lib_test cluster_test)
  if(TARGET ${t})
    add_dependencies(${t} weft_test_lib weft)
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT
      "WEFT_TEST_LIB=$<TARGET_FILE:weft_test_lib>")
  endif()
endforeach()
