# Unit tests live beside their modules (src/<layer>/<module>_test.c, cmocka);
# black-box tests live in tests/ (tests/*_test.c). Each is one ctest with a
# timeout, so one hang cannot stall the suite.
file(GLOB_RECURSE unit_tests CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/src/*_test.c ${CMAKE_SOURCE_DIR}/tests/*_test.c)
foreach(src ${unit_tests})
  get_filename_component(n ${src} NAME_WE)
  weft_program(${n} ${src})
  target_link_libraries(${n} PRIVATE ${CMOCKA_LIB})
  set_target_properties(${n} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${n} COMMAND ${n})
  set_tests_properties(${n} PROPERTIES TIMEOUT 600
    ENVIRONMENT "WEFT_EXAMPLES_DIR=${CMAKE_BINARY_DIR}/examples;WEFT_BIN=${CMAKE_BINARY_DIR}/weft")
endforeach()
if(TARGET cli_test)
  add_dependencies(cli_test weft)
endif()
