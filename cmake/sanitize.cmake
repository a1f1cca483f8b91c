# The sanitizer build (MSNKIT_SANITIZE=ON, `make asan`): AddressSanitizer,
# LeakSanitizer and UndefinedBehaviorSanitizer in every target.
#
# Most of the suite's time under the sanitizers is not the programs' own
# work but what every sanitized process pays to start and to exit (the
# suite starts about 2 500 of them): the runtimes' start-up, the loader's
# relocations and LeakSanitizer's scan of the globals at exit, where each
# page touched for the first time costs a page fault (about 10 us on the
# virtual machines CI runs on). Two things in this file cut that:
# - the programs are linked at a fixed address (-no-pie): the descriptions
#   AddressSanitizer keeps of every global are pointers, which a
#   position-independent program has the loader write into 1.8 MB of .data
#   at every start (msnsniff: 66 000 relocations);
# - sanitizer_prefault.c, linked into every program, maps the runtimes'
#   untouched .bss to the zero page in one call before LeakSanitizer reads it.
# Together: `msnsniff --version` 68 -> 43 ms of CPU, 4 800 -> 1 400 page
# faults; the msnsniff_cli suite 45 -> 30 s of CPU (docs/CONTRIBUTING-TEAM.md).
# Shared libraries and the code linked into them stay position-independent.

add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
add_link_options(-fsanitize=address,undefined)

include(CheckPIESupported)
check_pie_supported(LANGUAGES C)
set(CMAKE_POSITION_INDEPENDENT_CODE OFF)

add_library(msnkit_sanitizer_prefault OBJECT ${CMAKE_CURRENT_LIST_DIR}/sanitizer_prefault.c)
target_link_libraries(msnkit_sanitizer_prefault PRIVATE msnkit_warnings)

# Called once every component is added: links sanitizer_prefault into each
# executable of the tree (set_property rather than target_link_libraries:
# it is indifferent to the signature each folder used for its targets).
function(msnkit_sanitize_programs)
  set(dirs ${CMAKE_SOURCE_DIR})
  while(dirs)
    list(POP_FRONT dirs dir)
    get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
    foreach(t ${targets})
      get_target_property(type ${t} TYPE)
      if(type STREQUAL "EXECUTABLE")
        set_property(TARGET ${t} APPEND PROPERTY LINK_LIBRARIES msnkit_sanitizer_prefault)
      endif()
    endforeach()
    get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
    list(APPEND dirs ${subdirs})
  endwhile()
endfunction()
