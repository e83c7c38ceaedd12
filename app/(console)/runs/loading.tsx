export { default } from '../integrations/loading';
