# cg_module(NAME DEPS dep...): a static library cg_NAME from every .c file in the current
# source directory. Headers are included as "NAME/file.h" from src/.
function(cg_module name)
    cmake_parse_arguments(M "" "" "DEPS" ${ARGN})
    file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.c)
    if(NOT srcs)
        return() # a module still being written
    endif()
    add_library(cg_${name} STATIC ${srcs})
    target_include_directories(cg_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(cg_${name} PUBLIC ${M_DEPS})
    set_property(GLOBAL APPEND PROPERTY CG_MODULES cg_${name})
endfunction()
