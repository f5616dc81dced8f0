/* The serialized FileDescriptorSet of every proto the binaries serve (with imports), made by
 * protoc at build time and embedded here for server reflection. */
    .section .rodata
    .global menu_descriptor_set
    .global menu_descriptor_set_end
    .balign 16
menu_descriptor_set:
    .incbin DESCRIPTOR_SET_PATH
menu_descriptor_set_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
