// `npm start`: placeholder until the services exist; the build already ran.
console.log("built: contracts generated and type-checked");
