# Profile-guided optimisation of the analyzer (msnsniff).
#
# msnsniff's per-packet work is spread thin over the decoder, the flow
# table, the MSNP parser, the session logic and the event writer, with no
# hot spot left to rewrite; what remains is how the compiler lays that code
# out and which branches it expects. A release build therefore builds the
# analyzer twice: first an instrumented copy in a tree of its own
# (<build>/pgo/tree, with -fprofile-generate), which analyses two captures
# made by gen-capture (one all MSN, one mostly other traffic), then the real
# one with the counts it wrote (-fprofile-use). On the dense benchmark
# capture that is about 9 % less wall time (BENCHMARKS.md, "Analyzer built
# with its profile").
#
# What gets the profile: the analyzer's own code and the codec and hash map
# it uses (libmsnp, lib/common). Where the compiler can optimise at link
# time, the analyzer's core has copies of those of its own
# (src/msnsniff/CMakeLists.txt), and the objects the other programs link
# get no counts; otherwise the analyzer links those shared objects, and
# they are the ones trained. Functions the training never runs (msnd's
# login code in libmsnp, say) are optimised as in any release build
# (-fprofile-partial-training).
#
#   MSNKIT_PGO=AUTO      (default) on for GCC >= 11 release builds without
#                        sanitizers, when msnsniff and gen-capture are built
#   MSNKIT_PGO=OFF       one ordinary build (faster edit-compile turns)
#   MSNKIT_PGO=GENERATE  the instrumented tree (set by the release build)
#
# The counts are redone whenever a source of the analyzer, libmsnp or
# lib/common changes, so they always describe the code being compiled.
set(MSNKIT_PGO "AUTO" CACHE STRING "Profile-guided optimisation of msnsniff: AUTO, OFF (GENERATE is internal)")
set(MSNKIT_PGO_PROFILE "" CACHE PATH "GENERATE: where the instrumented programs write their counts")

# The targets whose code is trained and then compiled with the counts.
set(_msnkit_pgo_targets msnkit_common msnp_obj msnsniff_core msnsniff)

# The counts of an object are named by its path relative to the tree
# (-fprofile-prefix-path). GCC takes the directory it compiles in from $PWD
# when $PWD is that directory, else from getcwd(), which resolves symbolic
# links: when the build directory's path goes through one, the two differ,
# and which one a compile sees depends on how make or ninja was started
# (the prefix then does not match: an error with -Werror). The trained
# targets are compiled without PWD, so always in the resolved path, and the
# prefix is the tree's resolved path.
function(_msnkit_pgo_resolved_paths t)
  get_target_property(launcher ${t} C_COMPILER_LAUNCHER)
  if(NOT launcher)
    set(launcher "")
  endif()
  set_property(TARGET ${t} PROPERTY C_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env --unset=PWD ${launcher})
endfunction()

function(msnkit_pgo_setup)
  get_filename_component(resolved ${CMAKE_BINARY_DIR} REALPATH)
  if(MSNKIT_PGO STREQUAL "GENERATE")
    foreach(t ${_msnkit_pgo_targets})
      if(TARGET ${t})
        # file names relative to this tree, so that the release tree finds them
        target_compile_options(${t} PRIVATE -fprofile-generate=${MSNKIT_PGO_PROFILE}
                               -fprofile-prefix-path=${resolved} -fprofile-update=prefer-atomic)
        _msnkit_pgo_resolved_paths(${t})
        target_link_options(${t} PRIVATE -fprofile-generate=${MSNKIT_PGO_PROFILE})
      endif()
    endforeach()
    # gen-capture links the instrumented libmsnp; its counts are removed
    # before the training run (below), they only need to link
    if(TARGET gen-capture)
      target_link_options(gen-capture PRIVATE -fprofile-generate=${MSNKIT_PGO_PROFILE})
    endif()
    return()
  endif()

  set(why "")
  string(TOUPPER "${CMAKE_BUILD_TYPE}" _msnkit_build_type) # CMake's own rule: "release" is Release
  if(NOT MSNKIT_PGO STREQUAL "AUTO")
    set(why "MSNKIT_PGO=${MSNKIT_PGO}")
  elseif(NOT _msnkit_build_type STREQUAL "RELEASE")
    set(why "not a Release build")
  elseif(MSNKIT_SANITIZE OR MSNKIT_FUZZ)
    set(why "sanitizer build")
  elseif(NOT CMAKE_C_COMPILER_ID STREQUAL "GNU" OR CMAKE_C_COMPILER_VERSION VERSION_LESS 11)
    set(why "needs GCC 11 or later (-fprofile-prefix-path)")
  elseif(NOT TARGET msnsniff)
    set(why "msnsniff is not built")
  elseif(NOT TARGET gen-capture)
    # the training captures are made by the benchmark's generator
    set(why "the training needs bench/gen-capture, and bench is not built")
  endif()
  if(why)
    message(STATUS "msnkit: msnsniff without profile-guided optimisation (${why})")
    return()
  endif()
  message(STATUS "msnkit: msnsniff with profile-guided optimisation (trained in ${CMAKE_BINARY_DIR}/pgo)")

  cmake_host_system_information(RESULT jobs QUERY NUMBER_OF_LOGICAL_CORES)
  set(dir ${CMAKE_BINARY_DIR}/pgo)
  set(profile ${dir}/profile)
  set(tree ${dir}/tree)
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS
       ${CMAKE_SOURCE_DIR}/lib/common/*.[ch] ${CMAKE_SOURCE_DIR}/lib/msnp/*.[ch]
       ${CMAKE_SOURCE_DIR}/src/msnsniff/*.[ch] ${CMAKE_SOURCE_DIR}/bench/gen-capture.c)
  # The training tree's settings: only what the training runs (a list, set
  # through a cache script: as a -D argument it would be split on the
  # way), compiled as this tree compiles it (CFLAGS, -DCMAKE_C_FLAGS...:
  # counts made by code compiled otherwise do not fit it, and a tree built
  # with others fails with -Wcoverage-mismatch). Bracketed, so quotes and
  # backslashes in the flags stay as they are. Written only when it
  # changes, and the training depends on it: new flags train again (make
  # does not rerun a command because its arguments changed).
  file(CONFIGURE OUTPUT ${dir}/tree-cache.cmake
       CONTENT "# ${CMAKE_C_COMPILER}
set(MSNKIT_COMPONENTS \"lib/msnp;src/msnsniff;bench\" CACHE STRING \"\")
set(CMAKE_C_FLAGS [==[${CMAKE_C_FLAGS}]==] CACHE STRING \"\" FORCE)
set(CMAKE_C_FLAGS_RELEASE [==[${CMAKE_C_FLAGS_RELEASE}]==] CACHE STRING \"\" FORCE)
set(CMAKE_EXE_LINKER_FLAGS [==[${CMAKE_EXE_LINKER_FLAGS}]==] CACHE STRING \"\" FORCE)
" @ONLY)
  add_custom_command(
    OUTPUT ${dir}/profile.stamp
    COMMAND ${CMAKE_COMMAND} -DSOURCE=${CMAKE_SOURCE_DIR} -DTREE=${tree} -DPROFILE=${profile} -DWORK=${dir}
            -DCOMPILER=${CMAKE_C_COMPILER} -DWERROR=${MSNKIT_WERROR} -DJOBS=${jobs}
            # the same generator: the ids of static functions in the counts
            # include the object's path as the compiler is given it, which
            # differs between generators (tree-relative with Ninja, relative
            # to the target's folder with make)
            "-DGENERATOR=${CMAKE_GENERATOR}" "-DMAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}"
            -P ${CMAKE_SOURCE_DIR}/cmake/pgo-train.cmake
    COMMAND ${CMAKE_COMMAND} -E touch ${dir}/profile.stamp
    # and the lists that say which objects the trained targets have: the
    # counts are kept per object file
    DEPENDS ${sources} ${dir}/tree-cache.cmake ${CMAKE_SOURCE_DIR}/cmake/pgo.cmake ${CMAKE_SOURCE_DIR}/cmake/pgo-train.cmake
            ${CMAKE_SOURCE_DIR}/src/msnsniff/CMakeLists.txt ${CMAKE_SOURCE_DIR}/lib/msnp/CMakeLists.txt
            ${CMAKE_SOURCE_DIR}/lib/common/CMakeLists.txt
    COMMENT "Training msnsniff for profile-guided optimisation (log: ${dir}/build.log)"
    VERBATIM)
  add_custom_target(msnsniff_profile DEPENDS ${dir}/profile.stamp)

  foreach(t ${_msnkit_pgo_targets})
    add_dependencies(${t} msnsniff_profile)
    _msnkit_pgo_resolved_paths(${t})
    target_compile_options(${t} PRIVATE -fprofile-use=${profile} -fprofile-prefix-path=${resolved}
                           -fprofile-partial-training
                           # a source compiled into no trained program has no counts: fine
                           -Wno-missing-profile)
    # new counts recompile the objects
    get_target_property(srcs ${t} SOURCES)
    get_target_property(sdir ${t} SOURCE_DIR)
    set(abs "")
    foreach(s ${srcs})
      if(NOT s MATCHES "^\\$<")
        get_filename_component(s ${s} ABSOLUTE BASE_DIR ${sdir})
        list(APPEND abs ${s})
      endif()
    endforeach()
    if(abs)
      set_source_files_properties(${abs} TARGET_DIRECTORY ${t} PROPERTIES OBJECT_DEPENDS ${dir}/profile.stamp)
    endif()
  endforeach()
endfunction()
