// /gptoss: with a `tensor` query parameter the seed's gates A-D (gates.js), else gpt-oss decoding
// in the page (decode_page.js).
const gates = new URLSearchParams(location.search).has("tensor");
const page = gates ? await import("./gates.js") : await import("./decode_page.js");
page.main();
