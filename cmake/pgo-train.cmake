# Runs the instrumented msnsniff of TREE over generated captures; the
# counts land in PROFILE (see pgo.cmake). WORK holds the captures.
file(REMOVE_RECURSE ${PROFILE})
set(gen ${TREE}/bench/gen-capture)
set(sniff ${TREE}/src/msnsniff/msnsniff)
# All MSN (logins, switchboards, invitations of every kind, MSNFTP), and a
# capture that is mostly other traffic: the paths the analyzer takes for
# what it skips are trained too.
execute_process(COMMAND ${gen} --out ${WORK}/dense.pcap --dense 300 OUTPUT_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pgo: gen-capture --dense failed (${rc})")
endif()
execute_process(COMMAND ${gen} --out ${WORK}/mixed.pcap --size 16 OUTPUT_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pgo: gen-capture --size failed (${rc})")
endif()
# gen-capture's own counts (it links the instrumented libmsnp) are not the analyzer's
file(REMOVE_RECURSE ${PROFILE})
foreach(cap dense mixed)
  execute_process(COMMAND ${sniff} -q -r ${WORK}/${cap}.pcap -o ${WORK}/${cap}.json RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pgo: msnsniff failed on ${WORK}/${cap}.pcap (${rc})")
  endif()
endforeach()
file(REMOVE ${WORK}/dense.pcap ${WORK}/mixed.pcap ${WORK}/dense.json ${WORK}/mixed.json)
file(GLOB counts ${PROFILE}/*.gcda)
if(NOT counts)
  message(FATAL_ERROR "pgo: the training wrote no counts to ${PROFILE}")
endif()
