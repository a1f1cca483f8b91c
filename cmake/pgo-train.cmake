# The training step of pgo.cmake, run as `cmake -P`: configures and builds
# the instrumented msnsniff and gen-capture in TREE, then runs msnsniff over
# generated captures; the counts land in PROFILE. WORK holds the tree's
# settings (tree-cache.cmake, written by pgo.cmake), the captures and
# build.log, whose end is printed when a step fails.
function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  file(APPEND ${WORK}/build.log "$ ${ARGN}\n${out}")
  if(NOT rc EQUAL 0)
    string(LENGTH "${out}" len)
    if(len GREATER 4000)
      math(EXPR from "${len} - 4000")
      string(SUBSTRING "${out}" ${from} -1 out)
    endif()
    message(FATAL_ERROR "pgo: ${what} failed (${rc}); the end of its output (all of it in ${WORK}/build.log):\n${out}")
  endif()
endfunction()

file(MAKE_DIRECTORY ${WORK})
file(WRITE ${WORK}/build.log "")
# the instrumented build is a build of its own, not a part of the calling
# make's jobs
unset(ENV{MAKEFLAGS})
unset(ENV{MFLAGS})
# the release tree's generator (pgo.cmake says why): a tree made by
# another one is made again
if(EXISTS ${TREE}/CMakeCache.txt)
  file(STRINGS ${TREE}/CMakeCache.txt was REGEX "^CMAKE_GENERATOR:INTERNAL=")
  if(NOT was STREQUAL "CMAKE_GENERATOR:INTERNAL=${GENERATOR}")
    file(REMOVE_RECURSE ${TREE})
  endif()
endif()
step("configuring ${TREE}" ${CMAKE_COMMAND} -C ${WORK}/tree-cache.cmake -S ${SOURCE} -B ${TREE}
     -G ${GENERATOR} -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}
     -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=${COMPILER} -DMSNKIT_WERROR=${WERROR}
     -DMSNKIT_PGO=GENERATE -DMSNKIT_PGO_PROFILE=${PROFILE})
step("building the instrumented msnsniff" ${CMAKE_COMMAND} --build ${TREE} --parallel ${JOBS}
     --target msnsniff gen-capture)

file(REMOVE_RECURSE ${PROFILE})
set(gen ${TREE}/bench/gen-capture)
set(sniff ${TREE}/src/msnsniff/msnsniff)
# All MSN (logins, switchboards, invitations of every kind, MSNFTP), and a
# capture that is mostly other traffic: the paths the analyzer takes for
# what it skips are trained too.
step("gen-capture --dense" ${gen} --out ${WORK}/dense.pcap --dense 300)
step("gen-capture --size" ${gen} --out ${WORK}/mixed.pcap --size 16)
# gen-capture's own counts (it links the instrumented libmsnp) are not the analyzer's
file(REMOVE_RECURSE ${PROFILE})
foreach(cap dense mixed)
  step("msnsniff on ${cap}.pcap" ${sniff} -q -r ${WORK}/${cap}.pcap -o ${WORK}/${cap}.json)
endforeach()
file(REMOVE ${WORK}/dense.pcap ${WORK}/mixed.pcap ${WORK}/dense.json ${WORK}/mixed.json)
file(GLOB counts ${PROFILE}/*.gcda)
if(NOT counts)
  message(FATAL_ERROR "pgo: the training wrote no counts to ${PROFILE}")
endif()
